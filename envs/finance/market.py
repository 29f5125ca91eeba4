"""A market: a price history with its indicators, built once per data set and shared.

>>> market = open_market("synthetic", days=100)
>>> market.history.tickers, market.indicators.shape
(('SYN0', 'SYN1', 'SYN2', 'SYN3', 'SYN4'), (100, 5, 6))
>>> open_market("synthetic", days=100) is market
True
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import indicators
from .data import PriceHistory, load_csv, load_sp500, make_synthetic

DEFAULT_TICKERS = ("AAPL", "JPM", "KO", "MSFT", "XOM")
"""The bundled S&P 500 stocks traded unless ``tickers`` says otherwise."""
SYNTHETIC_ASSETS = 5
BUILT_IN = ("sp500", "synthetic")


@dataclass(frozen=True)
class Market:
    """Daily closes and their indicators (``(days, assets, len(indicators.NAMES))``, read-only)."""

    history: PriceHistory
    indicators: np.ndarray

    @classmethod
    def of(cls, history: PriceHistory) -> Market:
        values = indicators.compute(history.close)
        values.flags.writeable = False
        return cls(history, values)


def open_market(data: str = "sp500", tickers: Sequence[str] | None = None, *, days: int = 2000,
                seed: int = 0) -> Market:
    """The market of ``data``: ``"sp500"`` (the shipped real closes; five stocks unless
    ``tickers`` names others), ``"synthetic"`` (``days`` of correlated GBM from ``seed``; five
    assets unless ``tickers`` names them) or the path of a CSV file (see
    :func:`~.data.load_csv`). Markets are cached: sessions on the same data share one."""
    names = None if tickers is None else tuple(tickers)
    if data in BUILT_IN:
        return _market(data, names, days if data == "synthetic" else 0, seed, 0)
    if not os.path.isfile(data):
        raise ValueError(f"data={data!r}: not 'sp500' (real closes of 20 S&P 500 stocks, shipped), "
                         f"'synthetic' (seeded GBM) or the path of a CSV file")
    return _market(data, names, 0, 0, os.stat(data).st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _market(data: str, tickers: tuple[str, ...] | None, days: int, seed: int, stamp: int) -> Market:
    """``stamp``: a CSV file's modification time, so an edited file is read again."""
    if data == "sp500":
        history = load_sp500(DEFAULT_TICKERS if tickers is None else tickers)
    elif data == "synthetic":
        names = tickers or tuple(f"SYN{i}" for i in range(SYNTHETIC_ASSETS))
        history = make_synthetic(names, days=days, seed=seed)
    else:
        history = load_csv(data, tickers)
    return Market.of(history)
