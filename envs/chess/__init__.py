"""The chess environment (``openenv/chess-v0``): SAN/UCI text moves for LLM agents, AlphaZero's
move encoding with an action mask and board planes for classic RL agents, against nobody, a
seeded random mover or Stockfish.

>>> from openenv_gym.envs.chess import ChessAction, ChessEnvironment
>>> env = ChessEnvironment(opponent="random")
>>> obs = env.reset(seed=1)
>>> obs = env.step(ChessAction(move="e4"))
>>> obs.metadata["move"], obs.last_move == obs.metadata["opponent_move"], obs.turn
('e2e4', True, 'white')
"""

from .encoding import NUM_ACTIONS, action_mask, decode_action, encode_move
from .environment import ChessEnvironment
from .models import ChessAction, ChessObservation, ChessState
from .planes import board_planes

__all__ = ["NUM_ACTIONS", "ChessAction", "ChessEnvironment", "ChessObservation", "ChessState",
           "action_mask", "board_planes", "decode_action", "encode_move"]
