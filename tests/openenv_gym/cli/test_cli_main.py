"""The command line as a whole: help for every command, exit codes, errors without tracebacks."""

from __future__ import annotations

import subprocess

import pytest

from openenv_gym.cli import COMMANDS, EXIT_USAGE

pytestmark = pytest.mark.fast

NAMES = ["init", "serve", "validate", "build", "list", "bench"]


def test_every_command_is_registered():
    assert sorted(c.__name__.rsplit(".", 1)[1] for c in COMMANDS) == sorted(NAMES)


@pytest.mark.parametrize("command", NAMES)
def test_every_command_has_help(cli, command):
    code, out, _ = cli(command, "--help")
    assert code == 0
    assert out.startswith(f"usage: openenv-gym {command}")


def test_top_level_help_lists_commands_and_exit_codes(cli):
    code, out, _ = cli("--help")
    assert code == 0
    assert all(name in out for name in NAMES)
    assert "Exit codes: 0 ok, 1" in out


def test_an_unknown_command_is_a_usage_error(cli):
    code, _, err = cli("frobnicate")
    assert code == EXIT_USAGE
    assert "invalid choice: 'frobnicate'" in err


def test_the_installed_script_reports_errors_in_one_line_without_traceback():
    done = subprocess.run(["openenv-gym", "serve", "ecko"], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.startswith("openenv-gym serve: error: 'ecko' is neither an environment folder")
    assert "Did you mean 'echo'?" in done.stderr
    assert "Traceback" not in done.stderr
