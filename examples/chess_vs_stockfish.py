"""A one-ply material-greedy agent plays Stockfish at several skill levels.

Prints a win/draw/loss table per skill level and an Elo-difference estimate with its standard
error (from the score, with the logistic formula). Needs Stockfish (``apt-get install
stockfish``). The defaults run in well under a minute::

    python examples/chess_vs_stockfish.py
    python examples/chess_vs_stockfish.py --games 20 --levels 0 5 10 --depth 5
"""

from __future__ import annotations

import argparse
import math
import random
import statistics

import chess
import gymnasium as gym

import openenv_gym  # noqa: F401  (registers openenv/chess-v0)

VALUES = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9, chess.KING: 0}


def material(board: chess.Board, color: chess.Color) -> int:
    """``color``'s material minus the opponent's, in pawns."""
    return sum(VALUES[p.piece_type] * (1 if p.color == color else -1) for p in board.piece_map().values())


def greedy_move(fen: str, legal_moves: list[str], rng: random.Random) -> str:
    """The legal move that leaves the most material (mate first); ties broken at random."""
    board = chess.Board(fen)
    me = board.turn

    def value(uci: str) -> float:
        board.push_uci(uci)
        score = math.inf if board.is_checkmate() else material(board, me)
        board.pop()
        return score + rng.random() * 0.1

    return max(legal_moves, key=value)


def play(env: gym.Env, seed: int, rng: random.Random) -> float:
    """One game; the agent's score: 1 win, 0.5 draw, 0 loss (or a truncated game: 0.5)."""
    obs, _ = env.reset(seed=seed)
    while True:
        move = greedy_move(obs["fen"], list(obs["legal_moves"]), rng)
        obs, reward, terminated, truncated, _ = env.step(move)
        if terminated or truncated:
            return (float(reward) + 1) / 2 if terminated else 0.5


def elo(scores: list[float]) -> tuple[float, float, str]:
    """Elo difference (agent minus opponent), its standard error, and ``"="``, ``"<"`` or ``">"``
    (a bound: with a 0% or 100% score the estimate uses half a game's score instead)."""
    n = len(scores)
    mean = statistics.fmean(scores)
    bound = "<" if mean == 0 else ">" if mean == 1 else "="
    s = min(max(mean, 0.5 / n), 1 - 0.5 / n)
    difference = -400 * math.log10(1 / s - 1)
    standard_error = statistics.stdev(scores) / math.sqrt(n) if n > 1 else math.inf  # of the mean score
    error = 400 / math.log(10) / (s * (1 - s)) * standard_error  # d(Elo)/d(score) at s
    return difference, error, bound


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=6, help="games per skill level, colours alternate")
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 3, 8], help="Stockfish skill levels")
    parser.add_argument("--depth", type=int, default=3, help="Stockfish search depth (default 3)")
    parser.add_argument("--max-plies", type=int, default=300, help="a longer game counts as a draw")
    parser.add_argument("--provider", default="inprocess", help="inprocess (default) or process")
    args = parser.parse_args(argv)
    rng = random.Random(0)
    print("| Stockfish skill | games | wins | draws | losses | score | Elo difference |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for level in args.levels:
        envs = {color: gym.make("openenv/chess-v0", opponent="stockfish", skill_level=level, depth=args.depth,
                                agent_color=color, max_plies=args.max_plies, provider=args.provider)
                for color in ("white", "black")}
        try:
            scores = [play(envs[("white", "black")[game % 2]], game, rng) for game in range(args.games)]
        finally:
            for env in envs.values():
                env.close()
        difference, error, bound = elo(scores)
        estimate = f"{difference:+.0f} ± {error:.0f}" if bound == "=" else f"{bound} {difference:+.0f}"
        print(f"| {level} | {len(scores)} | {scores.count(1.0)} | {scores.count(0.5)} | {scores.count(0.0)} "
              f"| {statistics.fmean(scores):.2f} | {estimate} |")


if __name__ == "__main__":
    main()
