"""AlphaZero's move encoding: every move is one of 8x8x73 = 4672 actions.

An action is ``from_square * 73 + plane``, seen from the side to move: for Black both squares
are mirrored (rank 1 <-> rank 8, files unchanged), so "forward" is always up the board and the
same action means the same move shape for either colour. Squares are numbered as in
python-chess, ``a1 = 0, b1 = 1, ..., h8 = 63``. The 73 planes:

=========  ==========================================================================
plane      move
=========  ==========================================================================
0-55       queen-like: ``direction * 7 + distance - 1``; directions N, NE, E, SE, S,
           SW, W, NW (clockwise from forward), distance 1-7. Also king, rook, bishop,
           pawn moves, castling (the king's two-square move) and promotions to a queen.
56-63      knight moves: (+1,+2), (+2,+1), (+2,-1), (+1,-2), (-1,-2), (-2,-1),
           (-2,+1), (-1,+2) as (file, rank) steps.
64-72      under-promotions: ``64 + 3 * (file step + 1) + piece``; file step -1, 0, +1
           (capture left, push, capture right); piece knight, bishop, rook.
=========  ==========================================================================

>>> import chess
>>> board = chess.Board()
>>> encode_move(chess.Move.from_uci("e2e4"), chess.WHITE)   # e2 = 12; north, distance 2
877
>>> decode_action(877, board)
Move.from_uci('e2e4')
>>> board.push_san("e4")
Move.from_uci('e2e4')
>>> encode_move(chess.Move.from_uci("e7e5"), chess.BLACK)   # the same shape for Black
877
>>> int(action_mask(board).sum()), len(list(board.legal_moves))
(20, 20)
"""

from __future__ import annotations

from collections.abc import Iterable

import chess
import numpy as np

PLANES_PER_SQUARE = 73
NUM_ACTIONS = 64 * PLANES_PER_SQUARE
"""4672: the size of the ``Discrete`` action space."""

_QUEEN_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
_KNIGHT_STEPS = ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2))
_UNDERPROMOTIONS = (chess.KNIGHT, chess.BISHOP, chess.ROOK)
_MIRROR = 0b111000  # square ^ 56 flips the rank


def _steps() -> list[tuple[int, int]]:
    """(file step, rank step) of planes 0-63."""
    queen = [(df * d, dr * d) for df, dr in _QUEEN_DIRECTIONS for d in range(1, 8)]
    return queen + list(_KNIGHT_STEPS)


def _tables() -> tuple[dict[tuple[int, int], int], list[int]]:
    """Plane of each (from, to) pair, and the target square of each action (-1: off the board)."""
    plane_of: dict[tuple[int, int], int] = {}
    target = [-1] * NUM_ACTIONS
    for square in chess.SQUARES:
        file, rank = chess.square_file(square), chess.square_rank(square)
        for plane, (df, dr) in enumerate(_steps()):
            if 0 <= file + df < 8 and 0 <= rank + dr < 8:
                to = chess.square(file + df, rank + dr)
                plane_of[square, to] = plane
                target[square * PLANES_PER_SQUARE + plane] = to
        for plane in range(64, PLANES_PER_SQUARE):
            df = (plane - 64) // 3 - 1
            if rank == 6 and 0 <= file + df < 8:
                target[square * PLANES_PER_SQUARE + plane] = chess.square(file + df, 7)
    return plane_of, target


_PLANE_OF, _TARGET = _tables()


def encode_move(move: chess.Move, turn: chess.Color) -> int:
    """The action of ``move`` played by ``turn`` (the side to move).

    >>> encode_move(chess.Move.from_uci("g1f3"), chess.WHITE)   # g1 = 6; knight (-1, +2): plane 63
    501
    >>> encode_move(chess.Move.from_uci("a7a8n"), chess.WHITE)  # a7 = 48; push, knight: plane 67
    3571
    """
    start, end = move.from_square, move.to_square
    if turn == chess.BLACK:
        start, end = start ^ _MIRROR, end ^ _MIRROR
    promotion = move.promotion
    if promotion is not None and promotion != chess.QUEEN:
        step = chess.square_file(end) - chess.square_file(start)
        return start * PLANES_PER_SQUARE + 64 + 3 * (step + 1) + _UNDERPROMOTIONS.index(promotion)
    try:
        return start * PLANES_PER_SQUARE + _PLANE_OF[start, end]
    except KeyError:
        raise ValueError(f"{move.uci()} is not a chess move shape (queen-like, knight or "
                         "under-promotion); it has no action") from None


def decode_action(action: int, board: chess.Board) -> chess.Move | None:
    """The move that ``action`` stands for in ``board``'s position, or ``None`` if it points off
    the board. The move is not checked for legality (use ``move in board.legal_moves``).

    >>> decode_action(501, chess.Board())
    Move.from_uci('g1f3')
    >>> decode_action(0 * 73 + 4 * 7, chess.Board()) is None   # south from a1: off the board
    True
    """
    if not 0 <= action < NUM_ACTIONS:
        return None
    end = _TARGET[action]
    if end < 0:
        return None
    start, plane = divmod(action, PLANES_PER_SQUARE)
    promotion = _UNDERPROMOTIONS[(plane - 64) % 3] if plane >= 64 else None
    if board.turn == chess.BLACK:
        start, end = start ^ _MIRROR, end ^ _MIRROR
    if (promotion is None and chess.square_rank(end) in (0, 7)
            and board.pawns & chess.BB_SQUARES[start]):
        promotion = chess.QUEEN
    return chess.Move(start, end, promotion)


def legal_actions(moves: Iterable[chess.Move], turn: chess.Color) -> list[int]:
    """The actions of ``moves`` (a position's legal moves) for the side ``turn``."""
    return [encode_move(move, turn) for move in moves]


def action_mask(board: chess.Board, moves: Iterable[chess.Move] | None = None) -> np.ndarray:
    """``int8`` array of :data:`NUM_ACTIONS`: 1 where the action is a legal move.

    Pass it to ``env.action_space.sample(mask=...)`` to sample only legal moves.
    """
    mask = np.zeros(NUM_ACTIONS, dtype=np.int8)
    actions = legal_actions(board.legal_moves if moves is None else moves, board.turn)
    if actions:
        mask[actions] = 1
    return mask
