"""``openenv-gym list``: ids, the environments behind them, their spaces."""

from __future__ import annotations

import pytest

from openenv_gym.catalog import BUNDLED

pytestmark = pytest.mark.fast


def test_lists_every_bundled_id_and_the_remote_one(cli):
    code, out, _ = cli("list")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    for name in BUNDLED:
        assert rows[f"openenv/{name}-v0"][:2] == [name, "bundled"]
    assert "openenv/remote-v0" in rows
    assert "openenv/atari-pong-v0" not in rows and "openenv/atari-<game>-v0" in rows
    assert rows["openenv/atari-<game>-NoFrameskip-v0"][2:4] == ["108", "games,"]


def test_all_lists_every_atari_game(cli):
    code, out, _ = cli("list", "--all")
    assert code == 0
    assert {"openenv/atari-pong-v0", "openenv/atari-pong-NoFrameskip-v0"} <= set(out.split())


def test_spaces_shows_each_environments_spaces(cli):
    code, out, _ = cli("list", "--spaces")
    assert code == 0
    assert "echo:\n  action:      UnicodeText(0, 65536)\n  observation: Dict('echoed_message'" in out
    assert "atari:\n  action:      Discrete(" in out
