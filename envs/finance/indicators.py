"""Technical indicators of daily closes, computed without look-ahead.

The indicators are FinRL's default set (``finrl.config.INDICATORS``) less the two that need
highs and lows (``cci_30``, ``dx_30``), with stockstats' names; each value at day ``t`` uses
the closes of days ``0..t`` only. Moving windows shorter than their length at the start of a
history (``min_periods=1``, as stockstats) average what there is.

=================  ===========================================================
``macd``           12-day EMA minus 26-day EMA of the close
``boll_ub``        20-day moving average plus two 20-day standard deviations
``boll_lb``        20-day moving average minus two 20-day standard deviations
``rsi_30``         30-day relative strength index (Wilder's smoothing), 0-100
``close_30_sma``   30-day simple moving average
``close_60_sma``   60-day simple moving average
=================  ===========================================================

Plain numpy: six formulas over one array do not need pandas or a TA library as a dependency.

>>> import numpy as np
>>> close = np.array([[10.0], [11.0], [12.0], [11.0]])
>>> values = compute(close)
>>> values.shape
(4, 1, 6)
>>> dict(zip(NAMES, values[-1, 0].round(2).tolist()))
{'macd': 0.25, 'boll_ub': 12.41, 'boll_lb': 9.59, 'rsi_30': 65.53, 'close_30_sma': 11.0, 'close_60_sma': 11.0}
"""

from __future__ import annotations

import numpy as np

NAMES = ("macd", "boll_ub", "boll_lb", "rsi_30", "close_30_sma", "close_60_sma")
LONGEST_WINDOW = 60
"""Days after which every indicator has its full window."""


def compute(close: np.ndarray) -> np.ndarray:
    """The indicators of ``(days, assets)`` closes as ``(days, assets, len(NAMES))``."""
    mean20, std20 = moving_average(close, 20), moving_std(close, 20)
    return np.stack([ema(close, 12) - ema(close, 26), mean20 + 2 * std20, mean20 - 2 * std20,
                     rsi(close, 30), moving_average(close, 30), moving_average(close, 60)], axis=-1)


def ema(x: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average along the first axis (``alpha = 2 / (span + 1)``), started at
    the first value (pandas' ``ewm(span=span, adjust=False)``)."""
    return _smooth(x, 2 / (span + 1))


def _smooth(x: np.ndarray, alpha: float) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float64)
    out[0] = x[0]
    for t in range(1, len(x)):
        out[t] = alpha * x[t] + (1 - alpha) * out[t - 1]
    return out


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values along the first axis (fewer at the start)."""
    total = np.cumsum(x, axis=0)
    total[window:] = total[window:] - total[:-window]
    count = np.minimum(np.arange(1, len(x) + 1), window)
    return total / count.reshape(-1, *([1] * (x.ndim - 1)))


def moving_std(x: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation of the last ``window`` values (0 for a single value)."""
    variance = moving_average(x * x, window) - moving_average(x, window) ** 2
    return np.sqrt(np.maximum(variance, 0.0))


def rsi(close: np.ndarray, window: int) -> np.ndarray:
    """Relative strength index with Wilder's smoothing (``alpha = 1 / window``); 50 on the first
    day, 100 while prices only rose."""
    change = np.diff(close, axis=0, prepend=close[:1])
    gain = _smooth(np.maximum(change, 0.0), 1 / window)
    loss = _smooth(np.maximum(-change, 0.0), 1 / window)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 100 * gain / total, 50.0)
