"""Buy-and-hold against a random trader on the finance environment (``openenv/finance-v0``).

Both agents trade the same five S&P 500 stocks over the same seeded one-year windows of real
daily closes. Buy-and-hold sends orders as text, as an LLM agent would ("BUY AAPL 1840;
BUY JPM 1123; ..."): equal amounts of each stock on the first day, then "HOLD". The random
trader samples the ``Box(-1, 1, (5,))`` action space (FinRL's trade sizes) every day.

Run it with ``python examples/finance_rollout.py`` (``--data synthetic`` for simulated prices,
``--episodes 10``, ``--provider process`` for a local server instead of in-process).
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
import numpy as np

import openenv_gym  # noqa: F401  (registers openenv/finance-v0)

MAX_TRADE = 100_000
"""Shares per stock per day: enough for buy-and-hold to invest everything on the first day."""


def buy_and_hold(obs: dict[str, Any], tickers: list[str]) -> str:
    """Orders for equal amounts of every stock (a little cash is kept for the costs)."""
    budget = 0.99 * float(obs["cash"][0]) / len(tickers)
    return "; ".join(f"BUY {ticker} {int(budget // price)}"
                     for ticker, price in zip(tickers, obs["prices"], strict=True))


def play(env: gym.Env, seed: int, agent: str, tickers: list[str]) -> tuple[float, str, str]:
    """One episode; returns the final portfolio value and the window's first and last day."""
    obs, info = env.reset(seed=seed)
    first_day = info["date"]
    action: Any = buy_and_hold(obs, tickers) if agent == "buy-and-hold" else env.action_space.sample()
    while True:
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info["portfolio_value"], first_day, info["date"]
        action = "HOLD" if agent == "buy-and-hold" else env.action_space.sample()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--data", default="sp500", help="'sp500' (default), 'synthetic' or a CSV path")
    parser.add_argument("--provider", default="inprocess", help="'inprocess' (default) or 'process'")
    args = parser.parse_args()
    env = gym.make("openenv/finance-v0", provider=args.provider, data=args.data, max_trade=MAX_TRADE)
    env.action_space.seed(0)
    tickers = env.unwrapped.state()["tickers"]
    try:
        print(f"{'window':<25}{'buy-and-hold':>16}{'random':>16}")
        finals: dict[str, list[float]] = {"buy-and-hold": [], "random": []}
        for seed in range(args.episodes):
            for agent, values in finals.items():
                value, start, end = play(env, seed, agent, tickers)
                values.append(value)
            print(f"{start} - {end}{finals['buy-and-hold'][-1]:>16,.0f}{finals['random'][-1]:>16,.0f}")
        print(f"{'mean':<25}{np.mean(finals['buy-and-hold']):>16,.0f}{np.mean(finals['random']):>16,.0f}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
