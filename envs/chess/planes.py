"""The board as ``uint8`` planes for neural networks: ``(8, 8, 18)``, seen from the side to move.

``planes[rank, file, channel]`` with rank 0 the side to move's first rank (the board is
mirrored for Black, as in :mod:`.encoding`), file 0 the a-file. Each channel is 0 or 1:

=======  ==================================================================
channel  meaning
=======  ==================================================================
0-5      the side to move's pawns, knights, bishops, rooks, queens, king
6-11     the opponent's pawns, knights, bishops, rooks, queens, king
12-13    the side to move may castle king side / queen side (whole plane)
14-15    the opponent may castle king side / queen side (whole plane)
16       the en passant target square, if an en passant capture is legal
17       White is to move (whole plane), so a network can tell the colours apart
=======  ==================================================================

>>> import chess
>>> planes = board_planes(chess.Board())
>>> planes.shape, planes.dtype.name
((8, 8, 18), 'uint8')
>>> int(planes[1, :, 0].sum()), int(planes[0, 4, 5]), int(planes[7, 4, 11])  # pawns, kings on e1/e8
(8, 1, 1)
"""

from __future__ import annotations

import chess
import numpy as np

NUM_PLANES = 18
SHAPE = (8, 8, NUM_PLANES)
_ALL = chess.BB_ALL


def _bitboards(board: chess.Board) -> list[int]:
    us, them = board.occupied_co[board.turn], board.occupied_co[not board.turn]
    by_type = (board.pawns, board.knights, board.bishops, board.rooks, board.queens, board.kings)
    rights = board.clean_castling_rights()
    back_ranks = ((chess.BB_H1, chess.BB_A1), (chess.BB_H8, chess.BB_A8))
    ours, theirs = back_ranks[0 if board.turn else 1], back_ranks[1 if board.turn else 0]
    ep = board.ep_square if board.ep_square is not None and board.has_legal_en_passant() else None
    return ([bb & us for bb in by_type] + [bb & them for bb in by_type]
            + [_ALL if rights & corner else 0 for corner in (*ours, *theirs)]
            + [0 if ep is None else chess.BB_SQUARES[ep], _ALL if board.turn else 0])


def board_planes(board: chess.Board) -> np.ndarray:
    """The ``(8, 8, 18)`` planes of ``board`` (see the module docstring)."""
    bits = np.unpackbits(np.array(_bitboards(board), dtype="<u8").view(np.uint8), bitorder="little")
    planes = bits.reshape(NUM_PLANES, 8, 8)  # channel, rank, file
    if board.turn == chess.BLACK:
        planes = planes[:, ::-1, :]
    return np.ascontiguousarray(planes.transpose(1, 2, 0))
