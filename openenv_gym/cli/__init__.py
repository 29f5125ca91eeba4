"""The ``openenv-gym`` command: write, run, check, package and measure environments.

One module per command (``init``, ``serve``, ``validate``, ``build``, ``list``, ``bench``);
each has ``add_parser(commands)`` and ``run(args) -> int``. Built on :mod:`argparse` (no
dependency; a handful of commands need nothing more).

Exit codes, for scripts:

- ``0``: done; every check passed.
- ``1``: the command ran and something failed: a check, a build, a server that would not start.
- ``2``: the command line cannot be carried out: a bad option, an unknown environment name or
  folder, a missing optional dependency.

Errors are one line on stderr saying what to fix, never a traceback.

>>> main(["validate", "echo"])  # doctest: +ELLIPSIS
/.../echo
PASS manifest ...
passed: 8/8 checks
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import OpenEnvGymError, UsageError
from . import bench, build, init, serve, validate
from . import list as list_command

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = (init, serve, validate, build, list_command, bench)


def parser() -> argparse.ArgumentParser:
    """The full command line: ``openenv-gym COMMAND ...``."""
    from .. import __version__

    top = argparse.ArgumentParser(
        prog="openenv-gym", description="Write, run, check, package and measure OpenEnv environments.",
        epilog="Exit codes: 0 ok, 1 a check or the command failed, 2 usage error. "
               "'openenv-gym COMMAND --help' for each command.")
    top.add_argument("--version", action="version", version=f"openenv-gym {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (the console script exits with it)."""
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(f"openenv-gym {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OpenEnvGymError as exc:
        print(f"openenv-gym {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130  # the shell's code for Ctrl-C


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main", "parser"]
