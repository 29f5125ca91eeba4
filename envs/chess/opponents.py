"""Who plays the other side: nobody, a seeded random mover, or Stockfish (a real UCI engine).

>>> import chess
>>> opponent = make_opponent("random")
>>> opponent.new_game(seed=1)
>>> board = chess.Board()
>>> move = opponent.choose(board, list(board.legal_moves))
>>> opponent.new_game(seed=1)
>>> opponent.choose(board, list(board.legal_moves)) == move   # the same seed, the same move
True
>>> make_opponent("stockfsh")
Traceback (most recent call last):
...
ValueError: unknown opponent 'stockfsh'. Did you mean 'stockfish'? Choose one of: none, random, stockfish
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
from typing import Any

import chess
import chess.engine

from openenv_gym.errors import did_you_mean

OPPONENTS = ("none", "random", "stockfish")
DEBIAN_STOCKFISH = "/usr/games/stockfish"
"""Where Debian's and Ubuntu's ``stockfish`` package puts the engine (not on ``PATH``)."""
DEFAULT_DEPTH = 8
"""Stockfish's search depth when neither ``depth`` nor ``movetime_ms`` is given."""
INSTALL_HINT = ("install it with `apt-get install stockfish` (Debian/Ubuntu: /usr/games/stockfish) or "
                "`brew install stockfish` (macOS), or pass engine_path='/path/to/stockfish'")


class Opponent:
    """Plays the side the agent does not. The base class is ``"none"``: it never moves."""

    name = "none"
    moves = False

    def new_game(self, seed: int | None = None) -> None:
        """A game starts; ``seed`` (from ``reset(seed=...)``) makes the opponent reproducible."""

    def choose(self, board: chess.Board, legal_moves: list[chess.Move]) -> chess.Move:
        """The opponent's move in ``board`` (which has ``legal_moves``, at least one)."""
        raise NotImplementedError("the 'none' opponent never moves: the agent plays both sides")

    def close(self) -> None:
        """Release what the opponent holds (an engine process)."""


class RandomOpponent(Opponent):
    """A uniformly random legal move, from a generator seeded by ``reset(seed=...)``."""

    name = "random"
    moves = True

    def __init__(self) -> None:
        self._rng = random.Random()

    def new_game(self, seed: int | None = None) -> None:
        if seed is not None:
            self._rng.seed(seed)

    def choose(self, board: chess.Board, legal_moves: list[chess.Move]) -> chess.Move:
        return legal_moves[self._rng.randrange(len(legal_moves))]


def find_engine(engine_path: str | None = None) -> str:
    """The Stockfish binary: ``engine_path``, else ``/usr/games/stockfish``, else ``stockfish``
    on ``PATH``; a clear ``FileNotFoundError`` that says how to install it if there is none."""
    if engine_path is not None:
        if os.path.isfile(engine_path) and os.access(engine_path, os.X_OK):
            return engine_path
        found = shutil.which(engine_path)
        if found:
            return found
        raise FileNotFoundError(f"no Stockfish engine at engine_path={engine_path!r} (not an executable "
                                f"file); {INSTALL_HINT}")
    if os.access(DEBIAN_STOCKFISH, os.X_OK):
        return DEBIAN_STOCKFISH
    found = shutil.which("stockfish")
    if found:
        return found
    raise FileNotFoundError(f"opponent='stockfish' needs the Stockfish chess engine, which was not found "
                            f"at {DEBIAN_STOCKFISH} or on PATH: {INSTALL_HINT}")


def _check_range(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not (isinstance(value, int) and low <= value <= high):
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


class StockfishOpponent(Opponent):
    """Stockfish through python-chess's ``SimpleEngine``: one engine process per instance,
    started at the first move it has to find and stopped by :meth:`close`.

    Args:
        engine_path: the engine binary (see :func:`find_engine`).
        skill_level: Stockfish's ``Skill Level``, 0 (weakest) to 20 (full strength, the
            default). Below 20 Stockfish picks among its moves at random, seeded from the
            clock: games are then not reproducible.
        depth: search depth in plies (default 8 when ``movetime_ms`` is not given either).
        movetime_ms: thinking time per move in milliseconds (not reproducible either).
        threads: engine threads (the default, 1, keeps depth-limited play reproducible).
    """

    name = "stockfish"
    moves = True

    def __init__(self, engine_path: str | None = None, skill_level: int | None = None,
                 depth: int | None = None, movetime_ms: int | None = None, threads: int | None = None):
        _check_range("skill_level", skill_level, 0, 20)
        _check_range("depth", depth, 1, 100)
        _check_range("movetime_ms", movetime_ms, 1, 3_600_000)
        self.path = find_engine(engine_path)
        _check_range("threads", threads, 1, 1024)
        self.options: dict[str, Any] = {"Threads": threads or 1}
        if skill_level is not None:
            self.options["Skill Level"] = skill_level
        if depth is None and movetime_ms is None:
            depth = DEFAULT_DEPTH
        self.limit = chess.engine.Limit(depth=depth, time=None if movetime_ms is None else movetime_ms / 1000)
        self._engine: chess.engine.SimpleEngine | None = None
        self._game = object()

    def new_game(self, seed: int | None = None) -> None:
        self._game = object()  # a new game key: python-chess sends ucinewgame (clears the hash)

    def choose(self, board: chess.Board, legal_moves: list[chess.Move]) -> chess.Move:
        result = self._start().play(board, self.limit, game=self._game)
        if result.move is None or result.move not in legal_moves:
            raise RuntimeError(f"Stockfish ({self.path}) returned no legal move ({result.move}) "
                               f"in {board.fen()}")
        return result.move

    def _start(self) -> chess.engine.SimpleEngine:
        if self._engine is None:
            try:
                self._engine = chess.engine.SimpleEngine.popen_uci(self.path)
            except (OSError, chess.engine.EngineError) as exc:
                raise RuntimeError(f"could not start Stockfish at {self.path!r} ({exc}); "
                                   f"{INSTALL_HINT}") from exc
            self._engine.configure(self.options)
        return self._engine

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(chess.engine.EngineTerminatedError):  # it is gone already
                engine.quit()


def make_opponent(name: str, **options: Any) -> Opponent:
    """The opponent called ``name`` (``none``, ``random`` or ``stockfish``); ``options`` are
    :class:`StockfishOpponent`'s (given for another opponent, they are an error)."""
    if name == "stockfish":
        return StockfishOpponent(**options)
    if name not in OPPONENTS:
        raise ValueError(f"unknown opponent {name!r}.{did_you_mean(str(name), OPPONENTS)} "
                         f"Choose one of: {', '.join(OPPONENTS)}")
    given = {k: v for k, v in options.items() if v is not None}
    if given:
        raise ValueError(f"{', '.join(sorted(given))} only apply to opponent='stockfish', not {name!r}")
    return RandomOpponent() if name == "random" else Opponent()
