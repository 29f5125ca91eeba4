"""Daily price histories: real S&P 500 closes shipped with the package, a CSV of yours, or a
seeded synthetic market.

The real data are the daily adjusted closes of 20 S&P 500 stocks from 2015-01-02 to 2022-12-28,
the last eight years of skfolio's ``sp500_dataset`` (BSD-3-Clause, see ``data/LICENSE-skfolio``),
taken from its wheel and shipped here so nothing is downloaded at run time.

>>> history = load_sp500(["AAPL", "MSFT"])
>>> history.tickers, history.dates[0], history.close.shape
(('AAPL', 'MSFT'), '2015-01-02', (2012, 2))
>>> load_sp500(["APPL"])
Traceback (most recent call last):
...
ValueError: unknown ticker 'APPL'. Did you mean 'AAPL'? sp500 has AAPL, AMD, BAC, ...
>>> make_synthetic(["X", "Y"], days=3, seed=0).close.round(2)
array([[100.  , 100.  ],
       [100.22,  99.88],
       [101.25, 100.36]])
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np

from openenv_gym.errors import did_you_mean

SP500_FILE = "sp500_closes.csv.gz"
SYNTHETIC_START = "2000-01-03"
"""The first (business) day of a synthetic history."""
TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class PriceHistory:
    """Daily closes of some assets over the same trading days, oldest first.

    Attributes:
        dates: ISO dates (``"2015-01-02"``), one per row of ``close``.
        tickers: the assets' names, one per column of ``close``.
        close: ``(days, assets)`` closing prices, positive and finite (read-only).
        source: where the prices come from (``"sp500"``, a file's path, ``"synthetic"``).
    """

    dates: tuple[str, ...]
    tickers: tuple[str, ...]
    close: np.ndarray
    source: str

    def __post_init__(self) -> None:
        close = np.array(self.close, dtype=np.float64)
        if close.ndim != 2 or close.shape != (len(self.dates), len(self.tickers)):
            raise ValueError(f"{self.source}: close has shape {close.shape}, expected "
                             f"(days, assets) = ({len(self.dates)}, {len(self.tickers)})")
        if not (np.isfinite(close).all() and (close > 0).all()):
            day, asset = np.argwhere(~(np.isfinite(close) & (close > 0)))[0]
            raise ValueError(f"{self.source}: every close must be a positive number; "
                             f"{self.tickers[asset]} on {self.dates[day]} is {close[day, asset]}")
        repeated = [a for a, b in pairwise(self.dates) if a >= b]
        if repeated:
            raise ValueError(f"{self.source}: the dates must increase, one row per day; {repeated[0]} "
                             "appears twice (or out of order)")
        close.flags.writeable = False
        object.__setattr__(self, "close", close)

    def select(self, tickers: Sequence[str] | None) -> PriceHistory:
        """The history of ``tickers`` only (all of them for ``None``), in that order."""
        if tickers is None:
            return self
        columns = [self._column(name) for name in tickers]
        if not columns or len(set(columns)) != len(columns):
            raise ValueError(f"tickers must name at least one asset, each once; got {list(tickers)}")
        return PriceHistory(self.dates, tuple(self.tickers[c] for c in columns),
                            self.close[:, columns], self.source)

    def _column(self, name: str) -> int:
        if name in self.tickers:
            return self.tickers.index(name)
        raise ValueError(f"unknown ticker {name!r}.{did_you_mean(name, self.tickers)} "
                         f"{self.source} has {', '.join(self.tickers)}")


def load_sp500(tickers: Sequence[str] | None = None) -> PriceHistory:
    """The shipped daily closes of 20 S&P 500 stocks (2015-2022), or of ``tickers`` among them."""
    return _sp500().select(tickers)


@functools.cache
def _sp500() -> PriceHistory:
    raw = (resources.files(__package__) / "data" / SP500_FILE).read_bytes()
    return _wide(list(csv.reader(io.StringIO(gzip.decompress(raw).decode()))), "sp500")


def load_csv(path: str | Path, tickers: Sequence[str] | None = None) -> PriceHistory:
    """Daily closes from a CSV file, in one of two layouts:

    - long, as FinRL's data frames: columns ``date``, ``tic``, ``close`` (other columns, such
      as ``open``, ``high``, ``low``, ``volume``, are allowed and not used), one row per
      ticker and day;
    - wide: a date column first, then one column of closes per ticker (what
      ``DataFrame.to_csv`` writes for a frame of prices indexed by date).

    Dates are ISO (``2020-01-31``); every ticker needs a close on every date.
    """
    with open(path, newline="", encoding="utf-8") as file:
        rows = [row for row in csv.reader(file) if row]
    if not rows:
        raise ValueError(f"{path}: the file is empty; expected a header such as 'date,tic,close'")
    names = [name.strip().lower() for name in rows[0]]
    history = _long(rows, str(path), names) if "tic" in names else _wide(rows, str(path))
    return history.select(tickers)


def iso_date(text: str, source: str) -> str:
    """``text`` as an ISO date (``2021-01-04``); ``ValueError`` naming ``source`` if it is none."""
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{source}: {text!r} is not an ISO date (YYYY-MM-DD)") from None


def _price(text: str, source: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{source}: the close of {where} is {text!r}, not a number") from None


def _wide(rows: list[list[str]], source: str) -> PriceHistory:
    """A date column, then one column of closes per ticker."""
    header, lines = rows[0], rows[1:]
    tickers = tuple(name.strip() for name in header[1:])
    if not tickers:
        raise ValueError(f"{source}: expected columns 'date,tic,close' or 'date,<TICKER>,<TICKER>...', "
                         f"got {header}")
    dates, closes = [], []
    for line in lines:
        if len(line) != len(header):
            raise ValueError(f"{source}: the row {line} has {len(line)} values for {len(header)} columns")
        dates.append(iso_date(line[0], source))
        closes.append([_price(value, source, f"{ticker} on {line[0]}")
                       for ticker, value in zip(tickers, line[1:], strict=True)])
    order = np.argsort(dates, kind="stable")
    return PriceHistory(tuple(dates[i] for i in order), tickers,
                        np.array(closes, dtype=np.float64).reshape(len(dates), len(tickers))[order], source)


def _long(rows: list[list[str]], source: str, names: list[str]) -> PriceHistory:
    """FinRL's layout: one ``date, tic, close`` row per ticker and day."""
    missing = {"date", "close"} - set(names)
    if missing:
        raise ValueError(f"{source}: no {' or '.join(sorted(missing))} column; the columns are "
                         f"date, tic, close (open, high, low, volume optional), got {names}")
    at_date, at_tic, at_close = names.index("date"), names.index("tic"), names.index("close")
    closes: dict[tuple[str, str], float] = {}
    for line in rows[1:]:
        if len(line) != len(names):
            raise ValueError(f"{source}: the row {line} has {len(line)} values for {len(names)} columns")
        day, tic = iso_date(line[at_date], source), line[at_tic].strip()
        if (day, tic) in closes:
            raise ValueError(f"{source}: {tic} has two closes on {day}; give one row per ticker and day")
        closes[day, tic] = _price(line[at_close], source, f"{tic} on {day}")
    dates = sorted({day for day, _ in closes})
    tickers = tuple(dict.fromkeys(tic for _, tic in closes))
    table = np.empty((len(dates), len(tickers)))
    for i, day in enumerate(dates):
        for j, tic in enumerate(tickers):
            if (day, tic) not in closes:
                raise ValueError(f"{source}: {tic} has no close on {day}; every ticker needs a close "
                                 "on every date")
            table[i, j] = closes[day, tic]
    return PriceHistory(tuple(dates), tickers, table, source)


def make_synthetic(tickers: Sequence[str], *, days: int = 2000, seed: int = 0, drift: float = 0.08,
                   volatility: float = 0.25, correlation: float = 0.3,
                   start_price: float = 100.0) -> PriceHistory:
    """Correlated geometric Brownian motion: the same ``seed`` gives the same prices.

    Args:
        tickers: the assets' names.
        days: trading days (business days from 2000-01-03).
        seed: seeds the random numbers.
        drift, volatility: yearly drift and volatility of each asset (252 trading days a year).
        correlation: of any two assets' daily log returns, in ``[0, 1)``.
        start_price: every asset's first close.
    """
    n = len(tickers)
    if days < 1 or n < 1 or not 0 <= correlation < 1:
        raise ValueError(f"need days >= 1, at least one ticker and 0 <= correlation < 1; got days={days}, "
                         f"{n} tickers, correlation={correlation}")
    dt = 1 / TRADING_DAYS_PER_YEAR
    covariance = volatility**2 * (correlation * np.ones((n, n)) + (1 - correlation) * np.eye(n))
    shocks = np.random.default_rng(seed).standard_normal((days - 1, n)) @ np.linalg.cholesky(covariance).T
    log_returns = (drift - volatility**2 / 2) * dt + np.sqrt(dt) * shocks
    log_prices = np.vstack([np.zeros((1, n)), np.cumsum(log_returns, axis=0)])
    dates = np.busday_offset(SYNTHETIC_START, np.arange(days), roll="forward").astype(str)
    return PriceHistory(tuple(dates.tolist()), tuple(tickers), start_price * np.exp(log_prices), "synthetic")
