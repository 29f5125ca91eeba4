"""When a game ends and what it is worth: python-chess's rules, with the legal moves known.

Games end only by the rules that need no claim (``board.outcome(claim_draw=False)``):
checkmate, stalemate, insufficient material, the 75-move rule and fivefold repetition. The
50-move rule and threefold repetition are claimable draws in real chess; a player here never
claims them, so the game goes on until the automatic versions apply.

>>> import chess
>>> board = chess.Board()
>>> for san in ("f3", "e5", "g4", "Qh4"):
...     _ = board.push_san(san)
>>> end = outcome(board, list(board.legal_moves))
>>> end.termination.name, end.winner, score(end, chess.BLACK), score(end, chess.WHITE)
('CHECKMATE', False, 1.0, -1.0)
"""

from __future__ import annotations

import chess

WIN, DRAW, LOSS = 1.0, 0.0, -1.0


def outcome(board: chess.Board, legal_moves: list[chess.Move],
            may_repeat: bool = True) -> chess.Outcome | None:
    """``board.outcome(claim_draw=False)``, without generating the legal moves again.

    ``may_repeat=False`` says the position cannot have occurred four times before (see
    :func:`may_be_fivefold`), which skips python-chess's search of the whole game.
    """
    if not legal_moves and board.is_check():
        return chess.Outcome(chess.Termination.CHECKMATE, not board.turn)
    if board.is_insufficient_material():
        return chess.Outcome(chess.Termination.INSUFFICIENT_MATERIAL, None)
    if not legal_moves:
        return chess.Outcome(chess.Termination.STALEMATE, None)
    if board.halfmove_clock >= 150:
        return chess.Outcome(chess.Termination.SEVENTYFIVE_MOVES, None)
    if may_repeat and board.is_fivefold_repetition():
        return chess.Outcome(chess.Termination.FIVEFOLD_REPETITION, None)
    return None


def may_be_fivefold(board: chess.Board, occupied_before: list[int]) -> bool:
    """Whether the position may be a fivefold repetition, from ``occupied_before`` (the board's
    ``occupied`` mask before each move of the game, oldest first).

    A position can only recur after reversible moves: a capture or a pawn move (which reset
    the halfmove clock) makes every earlier position unreachable. So four earlier occurrences
    must lie within the last ``halfmove_clock`` plies and have the same occupied squares.

    >>> board = chess.Board()
    >>> history = []
    >>> for uci in ["g1f3", "g8f6", "f3g1", "f6g8"] * 4:
    ...     history.append(board.occupied)
    ...     _ = board.push_uci(uci)
    >>> may_be_fivefold(board, history), board.is_fivefold_repetition()
    (True, True)
    >>> may_be_fivefold(board, history[:-4]), board.halfmove_clock
    (False, 16)
    """
    window = occupied_before[max(0, len(occupied_before) - board.halfmove_clock):]
    return window.count(board.occupied) >= 4


def score(end: chess.Outcome, color: chess.Color) -> float:
    """+1 if ``color`` won, -1 if it lost, 0 for a draw."""
    if end.winner is None:
        return DRAW
    return WIN if end.winner == color else LOSS


def color_name(color: chess.Color | None) -> str | None:
    """``"white"``, ``"black"`` or ``None``.

    >>> color_name(chess.WHITE), color_name(None)
    ('white', None)
    """
    return None if color is None else chess.COLOR_NAMES[color]
