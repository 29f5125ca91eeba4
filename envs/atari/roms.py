"""The Atari games ale-py ships, by ROM id, without importing ale-py.

``import openenv_gym`` registers one Gym id per game (``openenv/atari-<rom>-v0``) from this
static list, so registering stays light and works where ale-py is not installed. It is
ale-py 0.12.1's ``ale_py.roms.get_all_rom_ids()``, sorted (a test keeps the two equal).

>>> len(ROM_IDS), "pong" in ROM_IDS
(108, True)
>>> rom_id("SpaceInvaders"), rom_id("space-invaders"), rom_id("pong")
('space_invaders', 'space_invaders', 'pong')
>>> rom_id("pongg")
Traceback (most recent call last):
...
ValueError: unknown Atari game 'pongg'. Did you mean 'pong'? ale-py ships 108 games: adventure, ...
"""

from __future__ import annotations

import difflib

ROM_IDS: tuple[str, ...] = (
    "adventure", "air_raid", "alien", "amidar", "assault", "asterix", "asteroids", "atlantis",
    "atlantis2", "backgammon", "bank_heist", "basic_math", "battle_zone", "beam_rider", "berzerk",
    "blackjack", "bowling", "boxing", "breakout", "carnival", "casino", "centipede", "chopper_command",
    "combat", "crazy_climber", "crossbow", "darkchambers", "defender", "demon_attack", "donkey_kong",
    "double_dunk", "earthworld", "elevator_action", "enduro", "entombed", "et", "fishing_derby",
    "flag_capture", "freeway", "frogger", "frostbite", "galaxian", "gopher", "gravitar", "hangman",
    "haunted_house", "hero", "human_cannonball", "ice_hockey", "jamesbond", "journey_escape", "joust",
    "kaboom", "kangaroo", "keystone_kapers", "king_kong", "klax", "koolaid", "krull", "kung_fu_master",
    "laser_gates", "lost_luggage", "mario_bros", "maze_craze", "miniature_golf", "montezuma_revenge",
    "mr_do", "ms_pacman", "name_this_game", "othello", "pacman", "phoenix", "pitfall", "pitfall2",
    "pong", "pooyan", "private_eye", "qbert", "riverraid", "road_runner", "robotank", "seaquest",
    "sir_lancelot", "skiing", "solaris", "space_invaders", "space_war", "star_gunner", "superman",
    "surround", "tennis", "tetris", "tic_tac_toe_3d", "time_pilot", "trondead", "turmoil", "tutankham",
    "up_n_down", "venture", "video_checkers", "video_chess", "video_cube", "video_pinball", "warlords",
    "wizard_of_wor", "word_zapper", "yars_revenge", "zaxxon",
)
"""Every ROM id of ale-py 0.12.1, sorted; ``openenv/atari-<id>-v0`` is registered for each."""

_BY_LETTERS = {rom.replace("_", ""): rom for rom in ROM_IDS}


def _letters(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def rom_id(game: str) -> str:
    """The ROM id of a game named ``"space_invaders"``, ``"SpaceInvaders"`` or ``"space-invaders"``.

    Raises ``ValueError`` naming the closest games for an unknown name.
    """
    found = _BY_LETTERS.get(_letters(game)) if isinstance(game, str) else None
    if found is not None:
        return found
    close = difflib.get_close_matches(_letters(str(game)), _BY_LETTERS, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(_BY_LETTERS[c]) for c in close)}?" if close else ""
    raise ValueError(f"unknown Atari game {game!r}.{hint} ale-py ships {len(ROM_IDS)} games: "
                     f"{', '.join(ROM_IDS)}")
