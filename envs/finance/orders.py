"""The two forms of a trading action, read into shares per asset.

For RL agents, FinRL's form: one number in ``[-1, 1]`` per asset, times ``max_trade`` shares
(rounded toward zero). For LLM agents, orders as text: ``"BUY AAPL 10; SELL MSFT 5"``.

>>> tickers = ("AAPL", "MSFT", "KO")
>>> read_orders("buy aapl 10; SELL MSFT 5", tickers, max_trade=100).tolist()
[10, -5, 0]
>>> read_trades([0.5, -0.259, 0.0], tickers, max_trade=100).tolist()
[50, -25, 0]
>>> read_orders("BUY GOOG 1", tickers, max_trade=100)
Traceback (most recent call last):
...
ValueError: unknown ticker 'GOOG' in 'BUY GOOG 1'; the tickers are AAPL, MSFT, KO
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

GRAMMAR = ("'BUY <TICKER> <SHARES>' or 'SELL <TICKER> <SHARES>', separated by ';' or new lines "
           "('HOLD' or nothing: no trade), e.g. 'BUY AAPL 10; SELL MSFT 5'")
"""The text form, as error messages state it."""

_ORDER = re.compile(r"(BUY|SELL)\s+(\S+)\s+(\d+)", re.IGNORECASE)
_SEPARATOR = re.compile(r"[;\n]")


def read_orders(text: str, tickers: Sequence[str], max_trade: int) -> np.ndarray:
    """Shares per asset (+ buy, - sell) of orders as text; ``ValueError`` saying what is wrong.

    Tickers and the words are case-insensitive; each ticker may have one order per step, of
    at most ``max_trade`` shares.
    """
    column = {ticker.upper(): i for i, ticker in enumerate(tickers)}
    shares = np.zeros(len(tickers), dtype=np.int64)
    ordered: set[int] = set()
    for order in filter(None, (part.strip() for part in _SEPARATOR.split(text))):
        if order.upper() == "HOLD":
            continue
        match = _ORDER.fullmatch(order)
        if match is None:
            raise ValueError(f"cannot read the order {order!r}; orders are {GRAMMAR}")
        side, ticker, count = match[1].upper(), match[2].upper(), int(match[3])
        if ticker not in column:
            raise ValueError(f"unknown ticker {match[2]!r} in {order!r}; "
                             f"the tickers are {', '.join(tickers)}")
        if column[ticker] in ordered:
            raise ValueError(f"{ticker} has more than one order; give each ticker one order per step")
        if count > max_trade:
            raise ValueError(f"{order!r} is more than max_trade={max_trade} shares; order at most "
                             f"{max_trade} shares of a ticker per step")
        ordered.add(column[ticker])
        shares[column[ticker]] = count if side == "BUY" else -count
    return shares


def read_trades(trades: Sequence[float], tickers: Sequence[str], max_trade: int) -> np.ndarray:
    """Shares per asset of FinRL's action: ``trade * max_trade``, rounded toward zero."""
    if len(trades) != len(tickers):
        raise ValueError(f"expected {len(tickers)} trade sizes in [-1, 1], one per ticker "
                         f"({', '.join(tickers)}), got {len(trades)}; or orders as text: {GRAMMAR}")
    return (np.asarray(trades, dtype=np.float64) * max_trade).astype(np.int64)
