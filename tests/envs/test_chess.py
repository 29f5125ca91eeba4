"""The chess environment as its users see it: real engine (Stockfish), real servers."""

from __future__ import annotations

import random
import sys
import warnings

import chess
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from openenv.core.generic_client import GenericEnvClient

import openenv_gym  # noqa: F401  (registers openenv/chess-v0)
from openenv_gym import EnvClient, FactoryError
from openenv_gym.envs.chess import (
    NUM_ACTIONS,
    ChessAction,
    ChessEnvironment,
    action_mask,
    decode_action,
    encode_move,
)
from openenv_gym.envs.chess.notation import position_text
from openenv_gym.envs.chess.rules import may_be_fivefold, outcome
from openenv_gym.providers import ProcessProvider
from tests.support.servers import served_by

STOCKFISH = {"opponent": "stockfish", "depth": 1}
FOOLS_MATE_BLACK_TO_MATE = "rnbqkbnr/pppp1ppp/8/4p3/6P1/5P2/PPPPP2P/RNBQKBNR b KQkq - 0 2"
FOOLS_MATE_WHITE_TO_BLUNDER = "rnbqkbnr/pppp1ppp/8/4p3/8/5P2/PPPPP1PP/RNBQKBNR w KQkq - 0 2"
REVERSED_WHITE_TO_MATE = "rnbqkbnr/ppppp2p/5p2/6p1/3PP3/8/PPP2PPP/RNBQKBNR w KQkq - 0 3"
REVERSED_BLACK_TO_BLUNDER = "rnbqkbnr/pppppp1p/8/6p1/3PP3/8/PPP2PPP/RNBQKBNR b KQkq - 0 2"


@pytest.fixture(params=["inprocess", "process"])
def make(request):
    """``gym.make("openenv/chess-v0", ...)`` over each provider; closed after the test."""
    made = []

    def make_env(**kwargs):
        made.append(gym.make("openenv/chess-v0", provider=request.param, **kwargs))
        return made[-1]

    yield make_env
    for env in made:
        env.close()


@pytest.fixture
def make_inprocess():
    made = []

    def make_env(**kwargs):
        made.append(gym.make("openenv/chess-v0", provider="inprocess", **kwargs))
        return made[-1]

    yield make_env
    for env in made:
        env.close()


def random_games(count: int, seed: int = 0, max_plies: int = 400):
    """Positions of random games (with castling, en passant, promotions, and their ends), each
    with the occupied squares before each of the game's moves."""
    rng = random.Random(seed)
    for _ in range(count):
        board, occupied_before = chess.Board(), []
        while not board.is_game_over() and board.ply() < max_plies:
            yield board, occupied_before
            occupied_before.append(board.occupied)
            board.push(rng.choice(list(board.legal_moves)))
        yield board, occupied_before


# -- Gymnasium's checker --------------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"action_format": "discrete"}], ids=["text", "discrete"])
def test_check_env_passes(make, options):
    env = make(render_mode="ansi", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no render fps": ansi frames have none
        check_env(env.unwrapped)


@pytest.mark.needs_stockfish
def test_check_env_passes_against_stockfish(make_inprocess):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(make_inprocess(**STOCKFISH).unwrapped)


# -- moves as text --------------------------------------------------------------------------

def test_san_and_uci_are_both_accepted(make):
    env = make(opponent="none")
    obs, info = env.reset(seed=0)
    assert obs["fen"] == chess.STARTING_FEN and "e2e4" in obs["legal_moves"]
    obs, reward, terminated, truncated, info = env.step("e4")
    assert (obs["last_move"], obs["turn"], reward, info["move"]) == ("e2e4", "black", 0.0, "e2e4")
    obs, *_ = env.step("e7e5")
    obs, *_ = env.step("Nf3")
    assert obs["last_move"] == "g1f3" and obs["board"] == str(chess.Board(obs["fen"]))


def test_illegal_and_unparsable_moves_cost_a_penalty_and_the_game_goes_on(make):
    env = make(opponent="none")
    start, _ = env.reset(seed=0)
    for bad, why in [("e5", "not a legal move"), ("ZZYv5h", "not a move"), ("e2e5", "not a legal move"),
                     ("--", "not a legal move")]:
        obs, reward, terminated, truncated, info = env.step(bad)
        assert reward == pytest.approx(-0.1) and not terminated and not truncated
        assert why in info["illegal_move"] and "e2e4" in info["legal_moves"] and "e4" in info["legal_moves_san"]
        assert obs["fen"] == start["fen"]
        env.step("e4")  # legal: resets the count of illegal moves in a row
        env.reset(seed=0)
    obs, reward, *_ = env.step("d4")
    assert obs["last_move"] == "d2d4" and reward == 0.0


def test_an_illegal_discrete_action_costs_a_penalty(make_inprocess):
    env = make_inprocess(opponent="none", action_format="discrete")
    obs, _ = env.reset(seed=0)
    illegal = int(np.flatnonzero(obs["action_mask"] == 0)[0])
    obs2, reward, terminated, _, info = env.step(illegal)
    assert reward == pytest.approx(-0.1) and not terminated and "not" in info["illegal_move"]
    assert np.array_equal(obs2["planes"], obs["planes"])


def test_random_text_actions_never_crash(make_inprocess):
    env = make_inprocess(opponent="random", max_illegal_moves=None)
    env.reset(seed=0)
    env.action_space.seed(0)
    rewards = {round(env.step(env.action_space.sample())[1], 6) for _ in range(300)}
    assert -0.1 in rewards and rewards <= {-0.1, 0.0}  # (a random string may be a legal move)


def test_too_many_illegal_moves_in_a_row_lose_the_game(make_inprocess):
    env = make_inprocess(opponent="random", max_illegal_moves=2, illegal_move_penalty=-0.5)
    env.reset(seed=0)
    assert env.step("Ke2")[1] == -0.5
    obs, reward, terminated, truncated, info = env.step("nonsense")
    assert (reward, terminated, truncated) == (-1.0, True, False)
    assert (info["termination"], info["winner"], obs["result"]) == ("illegal_moves", "black", "0-1")


# -- game ends and rewards ------------------------------------------------------------------

@pytest.mark.parametrize("color, fen, move, reward", [
    ("black", FOOLS_MATE_BLACK_TO_MATE, "Qh4", 1.0),
    ("white", FOOLS_MATE_WHITE_TO_BLUNDER, "g4", -1.0),
    ("white", REVERSED_WHITE_TO_MATE, "Qh5", 1.0),
    ("black", REVERSED_BLACK_TO_BLUNDER, "f6", -1.0),
], ids=["black-mates", "white-is-mated", "white-mates", "black-is-mated"])
def test_checkmate_scores_from_the_agents_side(make_inprocess, color, fen, move, reward):
    env = make_inprocess(agent_color=color, **STOCKFISH)
    env.reset(seed=0, options={"fen": fen})
    obs, got, terminated, truncated, info = env.step(move)
    assert (got, terminated, truncated, info["termination"]) == (reward, True, False, "checkmate")
    assert info["winner"] == (color if reward > 0 else {"white": "black", "black": "white"}[color])
    assert obs["legal_moves"] == () and obs["is_check"] == 1


def test_fools_mate_played_by_both_sides_rewards_the_mover(make):
    env = make(opponent="none")
    env.reset(seed=0)
    rewards = [env.step(move)[1] for move in ("f3", "e5", "g4")]
    obs, reward, terminated, _, info = env.step("Qh4#")
    assert rewards == [0.0, 0.0, 0.0] and (reward, terminated) == (1.0, True)
    assert (info["winner"], obs["result"]) == ("black", "0-1")


def test_the_outcome_is_credited_back_over_the_moves_at_the_end_of_a_game(make):
    env = make(opponent="none", gamma=0.5)
    env.reset(seed=0)
    infos = [env.step(move)[4] for move in ("f3", "e5", "zz", "g4")]
    assert all("rubric_step_rewards" not in info for info in infos)
    assert infos[2]["illegal_move"]  # the penalty (-0.1) stays the reward of an illegal move
    *_, info = env.step("Qh4#")
    assert info["rubric_step_rewards"] == {"total": [0.0625, 0.125, 0.25, 0.5, 1.0]}


@pytest.mark.parametrize("fen, moves, termination", [
    ("7k/8/6K1/8/8/8/8/5Q2 w - - 0 1", ["Qf7"], "stalemate"),
    ("8/8/8/4k3/8/8/3r4/4K3 w - - 0 1", ["Kxd2"], "insufficient_material"),
    ("4k3/8/8/8/8/8/4P3/R3K3 w - - 149 90", ["Ra2"], "seventyfive_moves"),
    (chess.STARTING_FEN, ["Nf3", "Nf6", "Ng1", "Ng8"] * 4, "fivefold_repetition"),
], ids=["stalemate", "insufficient-material", "75-moves", "fivefold"])
def test_draws_give_zero_and_end_the_game(make_inprocess, fen, moves, termination):
    env = make_inprocess(opponent="none")
    env.reset(seed=0, options={"fen": fen})
    for move in moves:
        obs, reward, terminated, truncated, info = env.step(move)
    assert (reward, terminated, truncated, info["termination"], obs["result"]) == (
        0.0, True, False, termination, "1/2-1/2")


def test_the_move_limit_truncates(make):
    env = make(opponent="random", max_plies=4)
    env.reset(seed=0)
    assert env.step("e4")[3] is False
    obs, reward, terminated, truncated, info = env.step("d4")
    assert (reward, terminated, truncated, info["termination"]) == (0.0, False, True, "max_plies")


def test_fast_position_text_and_outcome_equal_python_chess():
    for board, occupied_before in random_games(25):
        assert position_text(board) == (board.fen(), str(board))
        may_repeat = may_be_fivefold(board, occupied_before)
        assert outcome(board, list(board.legal_moves), may_repeat) == board.outcome(claim_draw=False)
        assert may_repeat or not board.is_fivefold_repetition()


# -- opponents --------------------------------------------------------------------------------

def play_first_moves(env, seed, steps=10):
    obs, _ = env.reset(seed=seed)
    replies = []
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(obs["legal_moves"][0])
        replies.append(info.get("opponent_move"))
        if terminated or truncated:
            break
    return replies


def test_the_random_opponent_is_reproducible_with_a_seed(make_inprocess):
    env = make_inprocess(opponent="random")
    assert play_first_moves(env, 7) == play_first_moves(env, 7)
    assert play_first_moves(env, 7) != play_first_moves(env, 8)


def test_as_black_the_opponent_moves_first(make_inprocess):
    obs, info = make_inprocess(opponent="random", agent_color="black").reset(seed=3)
    assert obs["turn"] == "black" and obs["last_move"] == info["opponent_move"]


@pytest.mark.needs_stockfish
def test_stockfish_plays_legal_moves_and_beats_a_random_agent(make_inprocess):
    env = make_inprocess(opponent="stockfish", depth=2, max_plies=200)
    obs, _ = env.reset(seed=0)
    board, rng = chess.Board(), random.Random(0)
    for _ in range(100):
        agent_move = rng.choice(obs["legal_moves"])
        obs, reward, terminated, truncated, info = env.step(agent_move)
        board.push_uci(agent_move)
        if "opponent_move" in info:
            assert chess.Move.from_uci(info["opponent_move"]) in board.legal_moves
            board.push_uci(info["opponent_move"])
        assert obs["fen"] == board.fen()
        if terminated or truncated:
            break
    assert (reward, terminated, info["termination"], info["winner"]) == (-1.0, True, "checkmate", "black")


@pytest.mark.needs_stockfish
def test_stockfish_options_reach_the_engine(make_inprocess):
    env = make_inprocess(opponent="stockfish", skill_level=3, movetime_ms=10, agent_color="black")
    obs, info = env.reset(seed=1)
    assert info["opponent_move"] in {m.uci() for m in chess.Board().legal_moves}


def test_a_missing_engine_says_how_to_install_it(make_inprocess):
    with pytest.raises(FileNotFoundError, match="apt-get install stockfish"):
        make_inprocess(opponent="stockfish", engine_path="/nonexistent/stockfish")
    with pytest.raises(ValueError, match="Did you mean 'stockfish'"):
        ChessEnvironment(opponent="stokfish")


def test_a_missing_engine_says_how_to_install_it_over_a_server():
    with pytest.raises(FactoryError, match="cannot create its environment.*FileNotFoundError: .*apt-get install stockfish"):
        gym.make("openenv/chess-v0", opponent="stockfish", engine_path="/nonexistent/stockfish").close()


# -- the discrete encoding --------------------------------------------------------------------

def test_the_discrete_encoding_round_trips_every_legal_move():
    positions = 0
    for board, _ in random_games(12, seed=1):
        legal = list(board.legal_moves)
        actions = [encode_move(move, board.turn) for move in legal]
        assert len(set(actions)) == len(legal) and all(0 <= a < NUM_ACTIONS for a in actions)
        assert [decode_action(a, board) for a in actions] == legal
        assert set(np.flatnonzero(action_mask(board))) == set(actions)
        positions += 1
    assert positions > 1000


def test_discrete_observations_mask_exactly_the_legal_moves(make_inprocess):
    env = make_inprocess(opponent="random", action_format="discrete")
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(30):
        board = chess.Board(env.unwrapped.state()["fen"])
        assert obs["action_mask"].sum() == len(list(board.legal_moves)) == obs["action_mask"][
            [encode_move(m, board.turn) for m in board.legal_moves]].sum()
        assert obs["planes"][..., 17].all() == (board.turn == chess.WHITE)
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample(mask=obs["action_mask"]))
        assert reward != pytest.approx(-0.1)
        if terminated or truncated:
            break


# -- vector envs, servers, upstream clients -------------------------------------------------

def test_make_vec_plays_games_to_the_end_with_autoreset():
    envs = gym.make_vec("openenv/chess-v0", num_envs=4, opponent="random")
    try:
        obs, _ = envs.reset(seed=0)
        rng, finished = random.Random(0), np.zeros(4, dtype=bool)
        for _ in range(1000):
            obs, rewards, terminated, truncated, infos = envs.step([rng.choice(m) for m in obs["legal_moves"]])
            assert set(rewards[terminated]) <= {-1.0, 0.0, 1.0}
            done = terminated | truncated
            if done.any():
                was_done = done
                obs, rewards, terminated, truncated, _ = envs.step([rng.choice(m) for m in obs["legal_moves"]])
                assert all(obs["fen"][i] == chess.STARTING_FEN for i in np.flatnonzero(was_done))
                assert not rewards[was_done].any()
                finished |= was_done
            if finished.all():
                break
        assert finished.all()
    finally:
        envs.close()


def test_upstream_clients_read_fen_and_legal_moves():
    with ProcessProvider("openenv_gym.envs.chess.app:app", env_kwargs={"opponent": "none"}) as server:
        with GenericEnvClient(base_url=server.start()).sync() as client:
            reset = client.reset()
            assert reset.observation["fen"] == chess.STARTING_FEN and len(reset.observation["legal_moves"]) == 20
            step = client.step({"move": "e2e4"})
            assert step.observation["fen"].startswith("rnbqkbnr/pppppppp/8/8/4P3/")
            assert (step.observation["is_check"], step.observation["result"], step.done) == (False, None, False)


@pytest.mark.filterwarnings("ignore:.*render fps")  # ansi frames have no fps
def test_render_shows_the_board(make):
    env = make(opponent="none", render_mode="ansi")
    env.reset()
    env.step("e4")
    assert env.render().splitlines()[4] == ". . . . P . . ."


def test_chess_is_servable_on_its_own():
    command = [sys.executable, "-m", "openenv_gym.envs.chess", "--host", "127.0.0.1", "--port", "{port}"]
    with served_by(command) as url, EnvClient(url).sync() as client:
        client.reset(seed=0)
        assert client.step({"move": "e4"}).info["move"] == "e2e4"


def test_the_action_model_accepts_text_and_indices():
    assert ChessAction(move="e4").move == "e4" and ChessAction(move=877).move == 877
