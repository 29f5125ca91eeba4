"""Cash and whole shares, traded at a day's closes with proportional transaction costs.

The rules are FinRL's ``StockTradingEnv``: sells first (never more than held: no short
selling), then buys, largest order first, each as many shares as the order asks and the cash
pays for including its cost (no borrowing); every trade pays ``price * shares * cost_pct``.

>>> import numpy as np
>>> portfolio = Portfolio(cash=1000.0, holdings=np.array([0, 5]))
>>> prices = np.array([100.0, 10.0])
>>> fill = portfolio.trade(np.array([20, -8]), prices, Costs(buy=0.01, sell=0.01))
>>> fill.shares.tolist(), round(fill.cost, 2), round(portfolio.cash, 2), portfolio.holdings.tolist()
([10, -5], 10.5, 39.5, [10, 0])
>>> round(portfolio.value(prices), 2)
1039.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Costs:
    """Transaction costs as fractions of the traded value (FinRL's ``buy_cost_pct`` /
    ``sell_cost_pct``; 0.001 is 0.1%)."""

    buy: float = 0.001
    sell: float = 0.001

    def __post_init__(self) -> None:
        if not (0 <= self.buy < 1 and 0 <= self.sell < 1):
            raise ValueError(f"transaction costs are fractions in [0, 1), "
                             f"got buy={self.buy}, sell={self.sell}")


@dataclass(frozen=True)
class Fill:
    """What a trade did: the shares bought (+) and sold (-) per asset, and its costs."""

    shares: np.ndarray
    cost: float


@dataclass
class Portfolio:
    """Cash and the number of shares held of each asset (never negative)."""

    cash: float
    holdings: np.ndarray

    def __post_init__(self) -> None:
        self.holdings = np.array(self.holdings, dtype=np.int64)

    def value(self, prices: np.ndarray) -> float:
        """Cash plus the holdings at ``prices``."""
        return self.cash + float(self.holdings @ prices)

    def trade(self, orders: np.ndarray, prices: np.ndarray, costs: Costs) -> Fill:
        """Execute ``orders`` (shares to buy, or to sell where negative) at ``prices``, clipped
        to the shares held and the cash there is."""
        wanted, price, held = orders.tolist(), prices.tolist(), self.holdings.tolist()
        shares = [0] * len(held)  # plain Python: a handful of assets, ~3x faster than numpy scalars
        cost = 0.0
        for asset, order in enumerate(wanted):
            if order < 0:
                shares[asset] = -min(-order, held[asset])
                amount = -price[asset] * shares[asset]
                self.cash += amount * (1 - costs.sell)
                cost += amount * costs.sell
        for asset in sorted((a for a, n in enumerate(wanted) if n > 0), key=lambda a: -wanted[a]):
            unit = price[asset] * (1 + costs.buy)
            shares[asset] = min(wanted[asset], _affordable(self.cash, unit))
            self.cash -= unit * shares[asset]
            cost += price[asset] * shares[asset] * costs.buy
        traded = np.array(shares, dtype=np.int64)
        self.holdings = self.holdings + traded
        return Fill(traded, cost)


def _affordable(cash: float, unit: float) -> int:
    """The most units of ``unit`` that ``cash`` pays for (rounding never overdraws)."""
    count = max(math.floor(cash / unit), 0)
    return count - 1 if count and unit * count > cash else count
