"""The chess environment: an agent plays chess against nobody, a random mover or Stockfish."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import chess
import numpy as np
from gymnasium import spaces

from openenv_gym.errors import did_you_mean
from openenv_gym.server import Environment

from .encoding import NUM_ACTIONS, action_mask, decode_action
from .models import MAX_MOVE_LENGTH, ChessAction, ChessObservation, ChessState
from .notation import position_text, read_move, uci_of
from .opponents import Opponent, StockfishOpponent, make_opponent
from .planes import SHAPE, board_planes
from .rubrics import ChessOutcomeRubric
from .rules import LOSS, color_name, may_be_fivefold, outcome, score

ACTION_FORMATS = ("text", "discrete")
COLORS = ("white", "black")
DEFAULT_MAX_PLIES = 500
DEFAULT_MAX_ILLEGAL_MOVES = 3
DEFAULT_ILLEGAL_MOVE_PENALTY = -0.1


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value in allowed:
        return value
    raise ValueError(f"{name}={value!r} is not valid.{did_you_mean(str(value), allowed)} "
                     f"Choose one of: {', '.join(allowed)}")


def _limit(name: str, value: int | None) -> int | None:
    if value is not None and not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{name} must be a positive integer or None (no limit), got {value!r}")
    return value


@dataclass
class Position:
    """What the agent sees of the current position, computed once per position."""

    moves: list[chess.Move]
    by_uci: dict[str, chess.Move]
    fen: str
    diagram: str
    end: chess.Outcome | None
    planes: np.ndarray | None = None
    mask: np.ndarray | None = None

    @classmethod
    def of(cls, board: chess.Board, discrete: bool, occupied_before: list[int]) -> Position:
        """``occupied_before``: the board's occupied squares before each move of the game."""
        moves = list(board.generate_legal_moves())
        fen, diagram = position_text(board)
        end = outcome(board, moves, may_repeat=may_be_fivefold(board, occupied_before))
        position = cls(moves, {uci_of(m): m for m in moves}, fen, diagram, end)
        if discrete:
            position.planes, position.mask = board_planes(board), action_mask(board, moves)
        return position

    def renew_arrays(self) -> None:
        """New copies of the arrays, for an observation of the same position (the caller keeps
        the previous observation's arrays and may modify them)."""
        if self.planes is not None and self.mask is not None:
            self.planes, self.mask = self.planes.copy(), self.mask.copy()


class ChessEnvironment(Environment[ChessAction, ChessObservation, ChessState]):
    """Chess for LLM agents (moves as text) and classic RL agents (AlphaZero's move encoding).

    Args:
        opponent: ``"random"`` (default; a random legal move, seeded by ``reset(seed=...)``),
            ``"stockfish"`` (a real engine, one process per instance) or ``"none"`` (the
            agent plays both sides; each reward is then from the side that just moved).
        agent_color: ``"white"`` (default) or ``"black"`` (the opponent moves first).
        action_format: ``"text"`` (default: SAN or UCI strings; text observations) or
            ``"discrete"`` (``Discrete(4672)`` actions, observations ``planes`` and
            ``action_mask``).
        skill_level, depth, movetime_ms, engine_path, threads: Stockfish's options (see
            :class:`~.opponents.StockfishOpponent`).
        max_plies: truncate the episode after this many moves on the board (both sides'
            moves count; default 500; ``None``: no limit).
        max_illegal_moves: this many illegal moves in a row lose the game (default 3;
            ``None``: never).
        illegal_move_penalty: the reward of an illegal move (default -0.1); the board stays.
        gamma: discount of the outcome's per-move credit (:class:`~.rubrics.ChessOutcomeRubric`),
            reported in ``info["rubric_step_rewards"]`` when a game ends.

    Rewards: +1 win, -1 loss, 0 draw when the game ends (``board.outcome(claim_draw=False)``).
    ``reset(fen=...)`` starts from a position instead of the initial one.

    >>> env = ChessEnvironment(opponent="none")
    >>> env.reset().legal_moves[:3]
    ['g1h3', 'g1f3', 'b1c3']
    >>> obs = env.step(ChessAction(move="e4"))
    >>> obs.turn, obs.last_move, obs.reward
    ('black', 'e2e4', 0.0)
    >>> obs = env.step(ChessAction(move="e4"))
    >>> obs.reward, obs.metadata["illegal_move"][:29], obs.metadata["legal_moves_san"][:3]
    (-0.1, "'e4' is not a legal move here", ['Nh6', 'Nf6', 'Nc6'])
    """

    SUPPORTS_CONCURRENT_SESSIONS = True
    RENDER_MODES = ("ansi",)
    RUBRIC_INFO = False  # the per-move credit is reported when a game ends, not a score per move

    def __init__(self, opponent: str = "random", agent_color: str = "white", action_format: str = "text", *,
                 skill_level: int | None = None, depth: int | None = None, movetime_ms: int | None = None,
                 engine_path: str | None = None, threads: int | None = None,
                 max_plies: int | None = DEFAULT_MAX_PLIES,
                 max_illegal_moves: int | None = DEFAULT_MAX_ILLEGAL_MOVES,
                 illegal_move_penalty: float = DEFAULT_ILLEGAL_MOVE_PENALTY, gamma: float = 0.99):
        super().__init__(rubric=ChessOutcomeRubric(gamma=gamma))
        self.agent_color = _choice("agent_color", agent_color, COLORS) == "white"
        self.discrete = _choice("action_format", action_format, ACTION_FORMATS) == "discrete"
        self.max_plies = _limit("max_plies", max_plies)
        self.max_illegal_moves = _limit("max_illegal_moves", max_illegal_moves)
        self.illegal_move_penalty = float(illegal_move_penalty)
        self.opponent: Opponent = make_opponent(
            _choice("opponent", opponent, ("none", "random", "stockfish")), skill_level=skill_level,
            depth=depth, movetime_ms=movetime_ms, engine_path=engine_path, threads=threads)
        # Without an engine a step takes microseconds: the server may run it on its event loop
        # (sessions read the flag from the instance; ~1.5x faster over a local server).
        self.FAST_STEP = not isinstance(self.opponent, StockfishOpponent)
        self._board = chess.Board()
        self._occupied_before: list[int] = []
        self._position = Position.of(self._board, self.discrete, self._occupied_before)
        self._episode_id = str(uuid.uuid4())
        self._steps = self._plies = self._illegal = 0
        self._result: str | None = None
        self._ended: str | None = None

    # -- the OpenEnv API -----------------------------------------------------------------------

    def reset(self, seed: int | None = None, episode_id: str | None = None, fen: str | None = None,
              **kwargs: Any) -> ChessObservation:
        """A new game from the initial position (or ``fen``); the opponent moves first if it
        has the move."""
        self._board = _board_from(fen)
        self.opponent.new_game(seed)
        self._episode_id = episode_id or str(uuid.uuid4())
        self._steps = self._plies = self._illegal = 0
        self._result = self._ended = None
        self._occupied_before = []
        self._position = Position.of(self._board, self.discrete, self._occupied_before)
        info: dict[str, Any] = {}
        if self.opponent.moves and self._board.turn != self.agent_color and self._position.end is None:
            self._opponent_moves(info)
        reward, done, truncated = self._judge(self.agent_color, info)
        return self._observe(reward, info, done=done, truncated=truncated)

    def step(self, action: ChessAction, timeout_s: float | None = None, **kwargs: Any) -> ChessObservation:
        """Play the agent's move and the opponent's reply; an illegal move costs
        ``illegal_move_penalty`` and leaves the board as it was."""
        if self._ended is not None:
            raise RuntimeError(f"the game is over ({self._ended}); call reset() to start a new one")
        self._steps += 1
        obs = self._move(action)
        self._apply_rubric(action, obs)  # records the move for the outcome's credit; the reward stays
        return obs

    def _move(self, action: ChessAction) -> ChessObservation:
        mover = self._board.turn
        try:
            move = self._read(action.move)
        except ValueError as exc:
            return self._illegal_move(str(exc))
        self._illegal = 0
        info: dict[str, Any] = {"move": uci_of(move)}
        self._play(move)
        if self.opponent.moves and self._position.end is None and not self._out_of_plies():
            self._opponent_moves(info)
        reward, done, truncated = self._judge(self.agent_color if self.opponent.moves else mover, info)
        return self._observe(reward, info, done=done, truncated=truncated)

    @property
    def state(self) -> ChessState:
        return ChessState(episode_id=self._episode_id, step_count=self._steps, fen=self._position.fen,
                          current_player=chess.COLOR_NAMES[self._board.turn],
                          move_history=[m.uci() for m in self._board.move_stack])

    def declared_spaces(self) -> dict[str, spaces.Space[Any]]:
        """Text mode: a ``Text`` action (the observation's spaces come from the model).
        Discrete mode: ``Discrete(4672)`` actions and ``Dict(action_mask, planes)`` observations."""
        if not self.discrete:
            return {"action": spaces.Text(MAX_MOVE_LENGTH, min_length=0)}
        return {"action": spaces.Discrete(NUM_ACTIONS),
                "observation": spaces.Dict({"action_mask": spaces.MultiBinary(NUM_ACTIONS),
                                            "planes": spaces.Box(0, 1, SHAPE, np.uint8)})}

    def render(self, mode: str = "ansi") -> str:
        """The board diagram (rank 8 on top, upper case White, ``.`` empty)."""
        return self._position.diagram

    def close(self) -> None:
        """Stop the opponent's engine, if it has one."""
        self.opponent.close()

    # -- moves ---------------------------------------------------------------------------------

    def _read(self, move: str | int) -> chess.Move:
        """The legal move the action names; a ``ValueError`` that says why not."""
        if isinstance(move, str):
            return read_move(self._board, move, self._position.by_uci)
        decoded = decode_action(move, self._board)
        if decoded is None:
            raise ValueError(f"action {move} is not a move on the board (actions are 0-{NUM_ACTIONS - 1})")
        if uci_of(decoded) not in self._position.by_uci:
            raise ValueError(f"action {move} ({decoded.uci()}) is not a legal move here")
        return decoded

    def _play(self, move: chess.Move) -> None:
        self._occupied_before.append(self._board.occupied)
        self._board.push(move)
        self._plies += 1
        self._position = Position.of(self._board, self.discrete, self._occupied_before)

    def _opponent_moves(self, info: dict[str, Any]) -> None:
        move = self.opponent.choose(self._board, self._position.moves)
        info["opponent_move"] = uci_of(move)
        self._play(move)

    def _out_of_plies(self) -> bool:
        return self.max_plies is not None and self._plies >= self.max_plies

    def _judge(self, perspective: chess.Color, info: dict[str, Any]) -> tuple[float, bool, bool]:
        """``(reward, done, truncated)`` of the position reached; the end goes into ``info``."""
        end = self._position.end
        if end is not None:
            self._finish(end.termination.name.lower(), end.winner, end.result(), info)
            return score(end, perspective), True, False
        if self._out_of_plies():
            info["termination"] = "max_plies"
            return 0.0, False, True
        return 0.0, False, False

    def _finish(self, termination: str, winner: chess.Color | None, result: str,
                info: dict[str, Any]) -> None:
        self._ended, self._result = termination, result
        info.update(termination=termination, winner=color_name(winner), result=result)

    def _illegal_move(self, problem: str) -> ChessObservation:
        self._illegal += 1
        self._position.renew_arrays()
        info: dict[str, Any] = {"illegal_move": problem, "illegal_moves_in_a_row": self._illegal,
                                "legal_moves": list(self._position.by_uci),
                                "legal_moves_san": [self._board.san(m) for m in self._position.moves]}
        if self.max_illegal_moves is None or self._illegal < self.max_illegal_moves:
            return self._observe(self.illegal_move_penalty, info)
        loser = self._board.turn
        self._finish("illegal_moves", not loser, "0-1" if loser == chess.WHITE else "1-0", info)
        return self._observe(LOSS, info, done=True)

    def _observe(self, reward: float, info: dict[str, Any], *, done: bool = False,
                 truncated: bool = False) -> ChessObservation:
        board, position = self._board, self._position
        last = board.move_stack[-1] if board.move_stack else None
        return ChessObservation(
            fen=position.fen, board=position.diagram, legal_moves=list(position.by_uci),
            last_move=uci_of(last) if last else "", turn="white" if board.turn else "black",
            is_check=board.is_check(), result=self._result, planes=position.planes,
            action_mask=position.mask, reward=reward, done=done, truncated=truncated, metadata=info)


def _board_from(fen: str | None) -> chess.Board:
    """The initial position, or the valid position ``fen`` describes."""
    if fen is None:
        return chess.Board()
    try:
        board = chess.Board(fen)
    except ValueError as exc:
        raise ValueError(f"reset(fen={fen!r}): not a FEN ({exc})") from None
    if not board.is_valid():
        raise ValueError(f"reset(fen={fen!r}): not a legal position ({board.status()!r})")
    return board
