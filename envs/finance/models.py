"""The finance environment's action, observation and state.

The action's field is upstream's (``FinRLAction.actions``), so an upstream FinRL client's
``{"actions": [0.1, -0.5]}`` works; it also takes orders as text for LLM agents.

>>> FinanceAction(actions=[0.5, -1.0]).actions, FinanceAction(actions="BUY AAPL 10").actions
([0.5, -1.0], 'BUY AAPL 10')
>>> FinanceAction(actions=[1.5])
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 2 validation errors for FinanceAction
actions.list[...].0
  Input should be less than or equal to 1 ...
...
>>> print(rejected("unknown ticker 'X'", "BUY X 1"))
1 validation error for FinanceAction
actions
  unknown ticker 'X' [type=invalid_action, input_value='BUY X 1', input_type=str]
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from openenv_gym.types import Action, Observation, State

MAX_ORDERS_LENGTH = 10_000
"""Longest text of orders."""

Trade = Annotated[float, Field(ge=-1.0, le=1.0)]


class FinanceAction(Action):
    """Trades for this day: sizes in ``[-1, 1]`` per asset (times ``max_trade`` shares, as
    FinRL's actions), or orders as text (shares), ``"BUY AAPL 10; SELL MSFT 5"``."""

    actions: list[Trade] | str = Field(
        max_length=MAX_ORDERS_LENGTH,
        description="One trade size in [-1, 1] per ticker (times max_trade shares; + buys, - sells), "
                    "or orders as text: 'BUY AAPL 10; SELL MSFT 5' ('HOLD': no trade).")


def rejected(why: str, actions: Any) -> ValidationError:
    """The error for an action the model accepts but this environment cannot execute (an
    unknown ticker, the wrong number of trades). It is the validation error of any invalid
    action, so a server answers it as such (``VALIDATION_ERROR``, not an execution error)."""
    detail = InitErrorDetails(type=PydanticCustomError("invalid_action", why),
                              loc=("actions",), input=actions)
    return ValidationError.from_exception_data(FinanceAction.__name__, [detail])


class FinanceObservation(Observation):
    """The market at the close of a day and the portfolio, before this day's trades.

    The Gym observation is ``cash``, ``holdings``, ``prices`` and ``indicators`` (declared
    ``Box`` spaces); ``date``, ``portfolio_value`` and ``profit`` are also in ``info``.
    """

    date: str = Field(default="", description="The trading day (ISO date).")
    tickers: list[str] = Field(default_factory=list, description="The assets, in the order of the lists.")
    cash: float = Field(default=0.0, description="Cash.")
    holdings: list[int] = Field(default_factory=list, description="Shares held of each asset.")
    prices: list[float] = Field(default_factory=list, description="Each asset's close on this day.")
    indicator_names: list[str] = Field(default_factory=list, description="The columns of indicators.")
    indicators: list[list[float]] = Field(default_factory=list,
                                          description="Per asset, its technical indicators on this day.")
    portfolio_value: float = Field(default=0.0, description="Cash plus the holdings at this day's closes.")
    profit: float = Field(default=0.0, description="Change of the portfolio value over the last step, "
                                                   "after transaction costs (0 at the start).")


class FinanceState(State):
    """The episode: its window of trading days and the portfolio now."""

    date: str = ""
    start_date: str = ""
    end_date: str = ""
    tickers: list[str] = Field(default_factory=list)
    cash: float = 0.0
    holdings: list[int] = Field(default_factory=list)
    portfolio_value: float = 0.0
    initial_cash: float = 0.0
    data: str = ""
