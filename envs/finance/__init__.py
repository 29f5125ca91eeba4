"""The finance environment (``openenv/finance-v0``): FinRL-style stock trading.

>>> from openenv_gym.envs.finance import FinanceAction, FinanceEnvironment
>>> env = FinanceEnvironment(data="synthetic", tickers=["A", "B"])
>>> obs = env.reset(seed=0)
>>> obs.tickers, obs.holdings, len(obs.indicators[0])
(['A', 'B'], [0, 0], 6)
>>> env.step(FinanceAction(actions=[1.0, 0.0])).holdings
[100, 0]
"""

from .data import PriceHistory, load_csv, load_sp500, make_synthetic
from .environment import FinanceEnvironment
from .models import FinanceAction, FinanceObservation, FinanceState

__all__ = ["FinanceAction", "FinanceEnvironment", "FinanceObservation", "FinanceState", "PriceHistory",
           "load_csv", "load_sp500", "make_synthetic"]
