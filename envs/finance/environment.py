"""The finance environment: FinRL-style trading of several stocks over a window of days."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from gymnasium import spaces

from openenv_gym.server import Environment
from openenv_gym.server.rubrics import Rubric
from openenv_gym.types import EnvironmentMetadata

from . import indicators
from .data import iso_date
from .market import open_market
from .models import FinanceAction, FinanceObservation, FinanceState, rejected
from .orders import read_orders, read_trades
from .portfolio import Costs, Portfolio
from .rubrics import REWARD_SCALING, PortfolioChangeRubric

DEFAULT_WINDOW = 252
"""Trading days per episode (about a year)."""
TABLE_INDICATORS = ("macd", "rsi_30", "close_30_sma")
"""The indicators of the ``ansi`` rendering."""


class FinanceEnvironment(Environment[FinanceAction, FinanceObservation, FinanceState]):
    """Trade a few stocks day by day, as FinRL's ``StockTradingEnv``.

    Each step is one trading day: the agent sees the day's closes, indicators, its cash and
    shares, and trades at those closes; the step ends at the next day's closes, and the reward
    is the change of the portfolio value (times ``reward_scaling``, via
    :class:`~.rubrics.PortfolioChangeRubric`). Sells never exceed the shares held and buys
    never exceed the cash (both are clipped, as FinRL); every trade pays its cost.

    Args:
        data: ``"sp500"`` (real daily closes of 20 S&P 500 stocks, 2015-2022, shipped with the
            package), ``"synthetic"`` (correlated geometric Brownian motion) or a CSV file's
            path (columns ``date,tic,close``; see :func:`~.data.load_csv`).
        tickers: the assets to trade (default: AAPL, JPM, KO, MSFT, XOM of ``sp500``; every
            ticker of a CSV; SYN0-SYN4 of ``synthetic``).
        window: trading days per episode; the episode is truncated at its end. ``None``: from
            the first day to the last.
        random_start: start each episode on a day drawn from ``reset(seed=...)``; otherwise on
            the first day.
        start_date, end_date: trade only between these ISO dates (e.g. a test period after
            a training one); indicators still use the closes before ``start_date``.
        initial_cash: the cash at the start (FinRL's ``initial_amount``).
        max_trade: the most shares of one stock traded per step (FinRL's ``hmax``): a trade
            size of 1.0 buys this many.
        buy_cost_pct, sell_cost_pct: transaction costs, fractions of the traded value.
        reward_scaling: the reward is the change of the portfolio value times this.
        ruin_fraction: the episode terminates when the portfolio is worth less than this
            fraction of ``initial_cash`` (wiped out).
        warmup: days of data before the first possible start, so that every indicator has its
            full window (60 days: the longest). The first day is the later of this day and
            ``start_date``.
        days, data_seed: length and seed of the ``synthetic`` data.
        rubric: a reward of your own instead of the portfolio change.

    >>> env = FinanceEnvironment(tickers=["AAPL", "MSFT"], random_start=False)
    >>> obs = env.reset()
    >>> obs.date, obs.prices, obs.cash
    ('2015-03-31', [28.03, 35.573], 1000000.0)
    >>> obs = env.step(FinanceAction(actions="BUY AAPL 100"))
    >>> obs.date, obs.holdings, round(obs.cash, 2), round(obs.reward, 4)
    ('2015-04-01', [100, 0], 997194.2, -0.0007)
    """

    SUPPORTS_CONCURRENT_SESSIONS = True
    FAST_STEP = True
    RUBRIC_INFO = False  # one rubric: its score is the reward

    def __init__(self, data: str = "sp500", tickers: list[str] | None = None, *,
                 window: int | None = DEFAULT_WINDOW, random_start: bool = True,
                 start_date: str | None = None, end_date: str | None = None,
                 initial_cash: float = 1_000_000.0, max_trade: int = 100, buy_cost_pct: float = 0.001,
                 sell_cost_pct: float = 0.001, reward_scaling: float = REWARD_SCALING,
                 ruin_fraction: float = 0.05, warmup: int = indicators.LONGEST_WINDOW,
                 days: int = 2000, data_seed: int = 0, rubric: Rubric | None = None):
        super().__init__(rubric=PortfolioChangeRubric(reward_scaling) if rubric is None else rubric)
        self.market = open_market(data, tickers, days=days, seed=data_seed)
        self.tickers = list(self.market.history.tickers)
        self.first_day, self.last_day = _trading_days(self.market.history.dates, start_date, end_date, warmup)
        self.window = _window(window, self.first_day, self.last_day)
        self.random_start = random_start
        if initial_cash <= 0 or max_trade < 1:
            raise ValueError(f"initial_cash must be positive and max_trade at least 1 share, got "
                             f"initial_cash={initial_cash}, max_trade={max_trade}")
        self.initial_cash, self.max_trade = float(initial_cash), int(max_trade)
        self.ruin_fraction = ruin_fraction
        self.costs = Costs(buy=buy_cost_pct, sell=sell_cost_pct)
        self._rng = np.random.default_rng()
        self.reset()

    @property
    def last_start(self) -> int:
        """The last day an episode may start on."""
        return self.last_day - self.window

    # -- the OpenEnv API -----------------------------------------------------------------------

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              **kwargs: Any) -> FinanceObservation:
        """A new episode with ``initial_cash`` and no shares, on a start day drawn from ``seed``
        (the first day without ``random_start``)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        start = (int(self._rng.integers(self.first_day, self.last_start + 1)) if self.random_start
                 else self.first_day)
        self._episode_id = episode_id or str(uuid.uuid4())
        self._start, self._day, self._end = start, start, start + self.window
        self._steps, self._ended = 0, False
        self._portfolio = Portfolio(self.initial_cash, np.zeros(len(self.tickers), dtype=np.int64))
        self._reset_rubric()
        return self._observe(profit=0.0, info={}, reward=0.0)

    def step(self, action: FinanceAction, timeout_s: float | None = None,
             **kwargs: Any) -> FinanceObservation:
        """Trade at this day's closes, then move to the next day."""
        if self._ended:
            raise RuntimeError(f"the episode ended on {self._date()}; call reset() to start a new one")
        orders = self._orders(action.actions)
        prices = self.market.history.close[self._day]
        before = self._portfolio.value(prices)
        fill = self._portfolio.trade(orders, prices, self.costs)
        self._day += 1
        self._steps += 1
        value = self._portfolio.value(self.market.history.close[self._day])
        done = value < self.ruin_fraction * self.initial_cash
        truncated = self._day == self._end and not done
        self._ended = done or truncated
        info = {"shares_traded": fill.shares.tolist(), "transaction_cost": fill.cost}
        if done:
            info["termination"] = "ruined"
        obs = self._observe(profit=value - before, info=info, done=done, truncated=truncated)
        return self._score(action, obs)

    @property
    def state(self) -> FinanceState:
        history, portfolio = self.market.history, self._portfolio
        return FinanceState(
            episode_id=self._episode_id, step_count=self._steps, date=self._date(),
            start_date=history.dates[self._start], end_date=history.dates[self._end], tickers=self.tickers,
            cash=portfolio.cash, holdings=portfolio.holdings.tolist(),
            portfolio_value=portfolio.value(history.close[self._day]), initial_cash=self.initial_cash,
            data=history.source)

    def declared_spaces(self) -> dict[str, spaces.Space[Any]]:
        """``Box(-1, 1, (assets,))`` trade sizes; observations ``Dict(cash (1,), holdings
        (assets,), prices (assets,), indicators (assets, 6))``, all float32."""
        n, k = len(self.tickers), len(indicators.NAMES)
        return {"action": spaces.Box(-1.0, 1.0, (n,), np.float32),
                "observation": spaces.Dict({
                    "cash": spaces.Box(0.0, np.inf, (1,), np.float32),
                    "holdings": spaces.Box(0.0, np.inf, (n,), np.float32),
                    "prices": spaces.Box(0.0, np.inf, (n,), np.float32),
                    "indicators": spaces.Box(-np.inf, np.inf, (n, k), np.float32)})}

    def render(self, mode: str = "ansi") -> str:
        """The day, the portfolio, and a table of the stocks."""
        day, portfolio = self._day, self._portfolio
        prices = self.market.history.close[day]
        columns = [indicators.NAMES.index(name) for name in TABLE_INDICATORS]
        lines = [f"{self._date()}  value {portfolio.value(prices):,.2f}  cash {portfolio.cash:,.2f}",
                 f"{'ticker':<8}{'close':>10}{'shares':>8}{'value':>14}"
                 + "".join(f"{name:>14}" for name in TABLE_INDICATORS)]
        for i, ticker in enumerate(self.tickers):
            values = self.market.indicators[day, i, columns]
            held = portfolio.holdings[i]
            lines.append(f"{ticker:<8}{prices[i]:>10.2f}{held:>8}{held * prices[i]:>14,.2f}"
                         + "".join(f"{v:>14.2f}" for v in values))
        return "\n".join(lines)

    def get_metadata(self) -> EnvironmentMetadata:
        history = self.market.history
        return EnvironmentMetadata(
            name="finance", version="0.1.0",
            description=f"FinRL-style trading of {', '.join(self.tickers)} ({history.source}, "
                        f"{history.dates[0]} to {history.dates[-1]}); actions: trade sizes in [-1, 1] "
                        f"times {self.max_trade} shares, or orders as text 'BUY AAPL 10; SELL MSFT 5'")

    # -- helpers -------------------------------------------------------------------------------

    def _orders(self, actions: list[float] | str) -> np.ndarray:
        """Shares to trade per asset; the action's validation error where it cannot be executed."""
        try:
            if isinstance(actions, str):
                return read_orders(actions, self.tickers, self.max_trade)
            return read_trades(actions, self.tickers, self.max_trade)
        except ValueError as exc:
            raise rejected(str(exc), actions) from None

    def _date(self) -> str:
        return self.market.history.dates[self._day]

    def _observe(self, *, profit: float, info: dict[str, Any], reward: float | None = None,
                 done: bool = False, truncated: bool = False) -> FinanceObservation:
        day, portfolio = self._day, self._portfolio
        prices = self.market.history.close[day]
        value = portfolio.value(prices)
        info.update(date=self._date(), portfolio_value=value, profit=profit)
        return FinanceObservation(
            date=self._date(), tickers=self.tickers, cash=portfolio.cash,
            holdings=portfolio.holdings.tolist(), prices=prices.tolist(),
            indicator_names=list(indicators.NAMES), indicators=self.market.indicators[day].tolist(),
            portfolio_value=value, profit=profit,
            reward=reward, done=done, truncated=truncated, metadata=info)


def _trading_days(dates: tuple[str, ...], start_date: str | None, end_date: str | None,
                  warmup: int) -> tuple[int, int]:
    """The first and last day episodes may use: from ``warmup`` and ``start_date`` on, up to
    ``end_date``."""
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0 days, got {warmup}")
    first = max(warmup, int(np.searchsorted(dates, iso_date(start_date, "start_date"))) if start_date else 0)
    last = (int(np.searchsorted(dates, iso_date(end_date, "end_date"), side="right")) - 1 if end_date
            else len(dates) - 1)
    if last <= first:
        raise ValueError(f"no trading days to use between {dates[min(first, len(dates) - 1)]} (start_date="
                         f"{start_date}, warmup={warmup} days) and {end_date or dates[-1]}; the data has "
                         f"{len(dates)} days, {dates[0]} to {dates[-1]}")
    return first, last


def _window(window: int | None, first: int, last: int) -> int:
    """The episode's length in steps; ``ValueError`` if the days are too few for it."""
    longest = last - first
    if window is None:
        return longest
    if not (isinstance(window, int) and 1 <= window <= longest):
        raise ValueError(f"window={window} does not fit the {longest + 1} trading days to use: choose "
                         f"1 <= window <= {longest} (or window=None, a smaller warmup, a wider date range)")
    return window
