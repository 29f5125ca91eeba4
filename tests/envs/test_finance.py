"""The finance environment: Gym's checker, accounting, no look-ahead, seeds, orders, data, episodes."""

from __future__ import annotations

import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from openenv.core.generic_client import GenericEnvClient

import openenv_gym  # noqa: F401  (registers openenv/finance-v0)
from openenv_gym import EnvClient, ExecutionError, InvalidActionError, InvalidRequestError
from openenv_gym.envs.finance import FinanceAction, FinanceEnvironment, load_csv, make_synthetic
from openenv_gym.envs.finance.indicators import NAMES, compute
from openenv_gym.envs.finance.portfolio import Costs, Portfolio
from openenv_gym.providers import ProcessProvider
from tests.support.servers import served_by

TICKERS = ("AAPL", "MSFT", "KO")


def write_csv(path, closes, tickers=TICKERS, start="2021-01-04"):
    """``closes`` (days, assets) as a FinRL-style long CSV with OHLCV columns; returns its path."""
    dates = np.busday_offset(start, np.arange(len(closes)), roll="forward").astype(str)
    lines = ["date,tic,open,high,low,close,volume"]
    lines += [f"{day},{tic},{c},{c},{c},{c},1000" for day, row in zip(dates, closes, strict=True)
              for tic, c in zip(tickers, row, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(params=["process", "inprocess"])
def make(request):
    """``gym.make("openenv/finance-v0", ...)`` over each provider; closed after the test."""
    made = []

    def make_env(**kwargs):
        made.append(gym.make("openenv/finance-v0", provider=request.param, **kwargs))
        return made[-1]

    yield make_env
    for env in made:
        env.close()


# -- Gymnasium's checker and spaces ---------------------------------------------------------

def test_check_env_passes(make):
    env = make(render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded Box warnings (prices, indicators); no render fps for ansi
        check_env(env.unwrapped)


def test_spaces_are_the_declared_boxes(make):
    env = make(tickers=["AAPL", "MSFT"])
    assert env.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    assert env.observation_space["indicators"].shape == (2, len(NAMES))
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and obs["cash"][0] == 1_000_000
    assert set(info) == {"date", "portfolio_value", "profit"}


# -- accounting -------------------------------------------------------------------------------

orders_text = st.lists(st.tuples(st.sampled_from(["BUY", "SELL", "buy"]), st.sampled_from(TICKERS),
                                 st.integers(0, 100)), max_size=3, unique_by=lambda o: o[1]).map(
    lambda orders: "; ".join(f"{side} {tic} {n}" for side, tic, n in orders) or "HOLD")
trade_sizes = st.lists(st.floats(-1, 1), min_size=3, max_size=3)


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(st.one_of(trade_sizes, orders_text), min_size=1, max_size=30),
       cost=st.sampled_from([0.0, 0.001, 0.05]), cash=st.sampled_from([500.0, 1e6]))
def test_cash_plus_holdings_is_conserved_but_for_costs(actions, cost, cash):
    env = FinanceEnvironment("synthetic", list(TICKERS), window=30, initial_cash=cash, buy_cost_pct=cost,
                             sell_cost_pct=cost)
    obs = env.reset(seed=7)
    for action in actions:
        prices = np.array(obs.prices)
        before = obs.cash + np.dot(obs.holdings, prices)
        obs = env.step(FinanceAction(actions=action))
        shares, paid = np.array(obs.metadata["shares_traded"]), obs.metadata["transaction_cost"]
        assert obs.cash + np.dot(obs.holdings, prices) == pytest.approx(before - paid, rel=1e-12, abs=1e-6)
        assert paid == pytest.approx(cost * np.dot(np.abs(shares), prices))
        assert obs.cash >= 0 and min(obs.holdings) >= 0  # no borrowing, no short selling
        assert obs.profit == pytest.approx(obs.portfolio_value - before)
        assert obs.reward == pytest.approx(1e-4 * obs.profit)
        if obs.truncated:
            break


def test_sells_are_clipped_to_the_holdings_and_buys_to_the_cash():
    portfolio = Portfolio(cash=1000.0, holdings=[3, 0])
    fill = portfolio.trade(np.array([-10, 50]), np.array([10.0, 100.0]), Costs(buy=0.0, sell=0.0))
    assert fill.shares.tolist() == [-3, 10] and portfolio.cash == 30.0 and portfolio.holdings.tolist() == [0, 10]


def test_the_largest_buy_is_filled_first_when_cash_is_short():
    portfolio = Portfolio(cash=1000.0, holdings=[0, 0])
    portfolio.trade(np.array([2, 8]), np.array([100.0, 100.0]), Costs(buy=0.0, sell=0.0))
    assert portfolio.holdings.tolist() == [2, 8]
    portfolio = Portfolio(cash=500.0, holdings=[0, 0])
    portfolio.trade(np.array([2, 8]), np.array([100.0, 100.0]), Costs(buy=0.0, sell=0.0))
    assert portfolio.holdings.tolist() == [0, 5]


def test_trade_sizes_are_fractions_of_max_trade():
    env = FinanceEnvironment("synthetic", list(TICKERS), max_trade=10, random_start=False)
    env.reset()
    assert env.step(FinanceAction(actions=[1.0, 0.55, -0.3])).holdings == [10, 5, 0]


# -- no look-ahead ------------------------------------------------------------------------------

def test_indicators_at_a_day_use_no_later_prices():
    close = make_synthetic(TICKERS, days=200, seed=1).close
    changed = close.copy()
    changed[120:] *= np.linspace(0.5, 3.0, 80)[:, None]
    np.testing.assert_array_equal(compute(close)[:120], compute(changed)[:120])
    assert not np.allclose(compute(close)[120:], compute(changed)[120:])


def test_observations_do_not_change_with_future_prices(tmp_path):
    close = make_synthetic(TICKERS, days=40, seed=2).close
    changed = close.copy()
    changed[30:] *= 2.0
    runs = []
    for name, prices in (("a.csv", close), ("b.csv", changed)):
        env = FinanceEnvironment(write_csv(tmp_path / name, prices), window=None, warmup=5,
                                 random_start=False)
        observations = [env.reset()]
        observations += [env.step(FinanceAction(actions=[0.5, -0.2, 0.1])) for _ in range(24)]
        runs.append([obs.model_dump() for obs in observations])
    assert runs[0] == runs[1]  # days 5..29: nothing the agent saw depends on days 30..39


# -- seeds ----------------------------------------------------------------------------------------

def test_a_seed_fixes_the_window_and_the_episode():
    def episode(seed):
        env = FinanceEnvironment(window=20)
        observations = [env.reset(seed=seed)]
        observations += [env.step(FinanceAction(actions="BUY AAPL 50; BUY KO 30")) for _ in range(5)]
        return [obs.model_dump() for obs in observations]

    assert episode(3) == episode(3)
    assert episode(3)[0]["date"] != episode(4)[0]["date"]


def test_synthetic_prices_follow_their_seed():
    assert np.array_equal(make_synthetic(TICKERS, seed=5).close, make_synthetic(TICKERS, seed=5).close)
    assert not np.array_equal(make_synthetic(TICKERS, seed=5).close, make_synthetic(TICKERS, seed=6).close)


def test_without_random_start_every_episode_starts_after_the_warmup():
    env = FinanceEnvironment(random_start=False, warmup=60)
    assert env.reset(seed=1).date == env.reset(seed=2).date == env.market.history.dates[60]


# -- orders as text -----------------------------------------------------------------------------

def test_text_orders_buy_and_sell_shares(make):
    env = make(tickers=list(TICKERS))
    env.reset(seed=0)
    obs, reward, _, _, info = env.step("buy aapl 10\nBUY MSFT 7; SELL KO 5")
    assert obs["holdings"].tolist() == [10, 7, 0] and info["shares_traded"] == [10, 7, 0]
    assert reward == pytest.approx(1e-4 * info["profit"]) and reward != 0
    obs, *_ = env.step({"actions": "SELL AAPL 4; HOLD"})
    assert obs["holdings"].tolist() == [6, 7, 0]


@pytest.mark.parametrize(("orders", "message"), [
    ("BUY GOOG 1", r"unknown ticker 'GOOG' in 'BUY GOOG 1'; the tickers are AAPL, MSFT, KO"),
    ("BUY AAPL ten", r"cannot read the order 'BUY AAPL ten'; orders are 'BUY <TICKER> <SHARES>'"),
    ("AAPL 10", r"cannot read the order 'AAPL 10'"),
    ("BUY AAPL 1; SELL AAPL 1", r"AAPL has more than one order"),
    ("BUY AAPL 101", r"more than max_trade=100 shares"),
], ids=["unknown-ticker", "not-a-number", "no-side", "twice", "too-many"])
def test_invalid_orders_are_rejected_with_what_to_fix(orders, message):
    env = gym.make("openenv/finance-v0", provider="inprocess", tickers=list(TICKERS))  # the server: below
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=message):
        env.step(orders)
    obs, *_ = env.step("BUY KO 1")  # the episode goes on
    assert obs["holdings"].tolist() == [0, 0, 1]
    env.close()


def test_the_server_answers_an_invalid_order_as_an_invalid_action():
    with ProcessProvider("openenv_gym.envs.finance.app:app") as server, EnvClient(server.start()).sync() as client:
        client.reset(seed=0)
        with pytest.raises(InvalidRequestError, match="the tickers are AAPL, JPM, KO, MSFT, XOM") as error:
            client.step({"actions": "BUY GOOG 1"})
        assert error.value.code == "VALIDATION_ERROR"
        with pytest.raises(InvalidRequestError, match="expected 5 trade sizes"):
            client.step({"actions": [0.5]})
        assert client.step({"actions": [0.5, 0, 0, 0, 0]}).observation["holdings"] == [50, 0, 0, 0, 0]


# -- data -------------------------------------------------------------------------------------------

def test_a_long_csv_with_ohlcv_columns_is_read(tmp_path):
    closes = np.array([[10.0, 20.0, 30.0], [11.0, 19.0, 31.0]])
    history = load_csv(write_csv(tmp_path / "p.csv", closes), tickers=["KO", "AAPL"])
    assert history.dates == ("2021-01-04", "2021-01-05") and history.tickers == ("KO", "AAPL")
    np.testing.assert_array_equal(history.close, closes[:, [2, 0]])


def test_a_wide_csv_is_read_in_date_order(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("Date,AAPL,MSFT\n2021-01-05,2.0,4.0\n2021-01-04,1.0,3.0\n")
    history = load_csv(path)
    assert history.dates == ("2021-01-04", "2021-01-05") and history.close.tolist() == [[1.0, 3.0], [2.0, 4.0]]


@pytest.mark.parametrize(("text", "message"), [
    ("date,tic,close\n2021-01-04,AAPL,1\n2021-01-04,MSFT,2\n2021-01-05,AAPL,1\n", "MSFT has no close on 2021-01-05"),
    ("date,tic,close\n04/01/2021,AAPL,1\n", "'04/01/2021' is not an ISO date"),
    ("date,tic,price\n2021-01-04,AAPL,1\n", "no close column"),
    ("date,tic,close\n2021-01-04,AAPL,-1\n", "every close must be a positive number; AAPL on 2021-01-04 is -1.0"),
    ("date,tic,close\n2021-01-04,AAPL,n/a\n", "the close of AAPL on 2021-01-04 is 'n/a', not a number"),
    ("", "the file is empty"),
    ("date,tic,close\n2021-01-04,AAPL,1\n2021-01-04,AAPL,2\n", "AAPL has two closes on 2021-01-04"),
    ("date,AAPL\n2021-01-04,1\n2021-01-04,2\n", "the dates must increase, one row per day; 2021-01-04 appears twice"),
], ids=["ragged", "date", "column", "negative", "number", "empty", "twice-long", "twice-wide"])
def test_a_bad_csv_says_what_to_fix(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_csv(path)


def test_unknown_data_and_short_data_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not 'sp500'.*'synthetic'.*or the path of a CSV file"):
        FinanceEnvironment("nasdaq")
    with pytest.raises(ValueError, match="no trading days to use between"):
        FinanceEnvironment(write_csv(tmp_path / "short.csv", np.ones((10, 3))))
    with pytest.raises(ValueError, match=r"window=252 does not fit the 61 trading days to use: choose 1 <= window <= 60"):
        FinanceEnvironment(write_csv(tmp_path / "short.csv", np.ones((121, 3))))
    with pytest.raises(ValueError, match="start_date: '2021/06/01' is not an ISO date"):
        FinanceEnvironment(start_date="2021/06/01")


def test_a_date_range_keeps_episodes_inside_it():
    env = FinanceEnvironment(window=None, start_date="2021-01-01", end_date="2021-12-31")
    obs = env.reset(seed=0)
    assert obs.date == "2021-01-04" and env.state.end_date == "2021-12-31"
    assert obs.indicators == env.market.indicators[env.first_day].tolist()  # warm from 2020's closes
    env = FinanceEnvironment(window=20, start_date="2021-01-01", end_date="2021-12-31")
    starts = {env.reset(seed=seed).date for seed in range(20)}
    assert len(starts) > 10 and all("2021-01-04" <= day <= "2021-12-02" for day in starts)


def test_the_shipped_sp500_data_are_real_closes():
    env = FinanceEnvironment(tickers=["AAPL"], window=None, warmup=0, random_start=False)
    history = env.market.history
    assert (history.dates[0], history.dates[-1], len(history.dates)) == ("2015-01-02", "2022-12-28", 2012)
    assert history.close[history.dates.index("2020-03-16"), 0] < history.close[history.dates.index("2020-02-12"), 0]


# -- episodes -----------------------------------------------------------------------------------------

def test_the_episode_is_truncated_at_the_end_of_its_window(make):
    env = make(window=3)
    env.reset(seed=0)
    flags = [env.step(np.zeros(5, np.float32))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


def test_stepping_after_the_end_asks_for_a_reset():
    env = FinanceEnvironment(window=1)
    env.reset(seed=0)
    assert env.step(FinanceAction(actions="HOLD")).truncated
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(FinanceAction(actions="HOLD"))


def test_a_wiped_out_portfolio_terminates_the_episode(tmp_path):
    closes = np.ones((4, 3)) * 100.0
    closes[2:, 0] = 1.0  # AAPL loses 99% on the third day
    env = FinanceEnvironment(write_csv(tmp_path / "crash.csv", closes), window=None, warmup=0,
                             random_start=False, initial_cash=10_000, max_trade=100)
    env.reset()
    assert not env.step(FinanceAction(actions="BUY AAPL 99")).done
    obs = env.step(FinanceAction(actions="HOLD"))
    assert obs.done and not obs.truncated and obs.metadata["termination"] == "ruined"


def test_make_vec_rolls_out_and_resets_each_episode():
    envs = gym.make_vec("openenv/finance-v0", num_envs=3, window=4, data="synthetic")
    try:
        envs.action_space.seed(0)
        obs, _ = envs.reset(seed=0)
        truncations = 0
        for _ in range(10):
            obs, rewards, terminated, truncated, _ = envs.step(envs.action_space.sample())
            assert obs["indicators"].shape == (3, 5, len(NAMES)) and not terminated.any()
            if truncated.any():
                truncations += 1
                obs, *_ = envs.step(envs.action_space.sample())  # next-step autoreset: a new episode
                assert (obs["cash"][truncated] == 1_000_000).all() and not obs["holdings"][truncated].any()
        assert truncations == 2
    finally:
        envs.close()


@pytest.mark.filterwarnings("ignore:.*render fps")  # ansi frames have no fps
def test_render_shows_the_portfolio_and_the_stocks(make):
    env = make(render_mode="ansi", tickers=["AAPL", "MSFT"], random_start=False)
    env.reset()
    env.step("BUY MSFT 10")
    lines = env.render().splitlines()
    assert lines[0].startswith("2015-04-01  value ")
    assert lines[1].split() == ["ticker", "close", "shares", "value", "macd", "rsi_30", "close_30_sma"]
    assert lines[3].split()[:3] == ["MSFT", "35.62", "10"]


# -- clients and servers ------------------------------------------------------------------------------

def test_upstream_finrl_style_clients_can_trade():
    with ProcessProvider("openenv_gym.envs.finance.app:app", env_kwargs={"data": "synthetic"}) as server:
        with GenericEnvClient(base_url=server.start()).sync() as client:
            reset = client.reset()
            assert reset.observation["tickers"] == ["SYN0", "SYN1", "SYN2", "SYN3", "SYN4"]
            step = client.step({"actions": [1.0, 0.0, 0.0, 0.0, 0.0]})
            assert step.observation["holdings"] == [100, 0, 0, 0, 0] and step.done is False


def test_finance_is_servable_on_its_own():
    command = [sys.executable, "-m", "openenv_gym.envs.finance", "--host", "127.0.0.1", "--port", "{port}"]
    with served_by(command) as url, EnvClient(url).sync() as client:
        client.reset(seed=0)
        truncated = [client.step({"actions": "HOLD"}).truncated for _ in range(252)]
        assert truncated.index(True) == 251  # a year of trading days
        with pytest.raises(ExecutionError, match="call reset"):
            client.step({"actions": "HOLD"})
