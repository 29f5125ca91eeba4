"""``openenv-gym init NAME``: a new environment package, ready to install, test, serve and build.

The files come from ``templates/env/`` (``string.Template`` placeholders: ``${name}``,
``${cls}``, ``${title}``, ``${dist}``).

>>> placeholders("my_env")
{'name': 'my_env', 'cls': 'MyEnv', 'title': 'My Env', 'dist': 'my-env'}
"""

from __future__ import annotations

import argparse
import keyword
import re
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from importlib.abc import Traversable

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
SUFFIX = ".tmpl"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "init", help="create a new environment package",
        description="Create a new environment package NAME/: models, environment, server app, "
                    "openenv.yaml, Dockerfile, tests and README. 'cd NAME && pip install -e . && "
                    "pytest' passes as generated; once installed it is the Gym id openenv/NAME-v0.")
    parser.add_argument("name", help="the environment's name, a Python package name (e.g. my_env)")
    parser.add_argument("--output-dir", type=Path, default=Path("."),
                        help="where to create the folder NAME (default: here)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    target = scaffold(args.name, args.output_dir)
    print(f"created {target}/ (an environment package; Gym id openenv/{args.name}-v0 once installed)\n"
          f"next:\n  cd {target}\n  pip install -e '.[test]' && pytest\n  openenv-gym serve . --reload")
    return 0


def placeholders(name: str) -> dict[str, str]:
    """The values substituted into the templates for an environment called ``name``."""
    words = [word for word in name.split("_") if word]
    return {"name": name, "cls": "".join(w.capitalize() for w in words),
            "title": " ".join(w.capitalize() for w in words), "dist": name.replace("_", "-")}


def check_name(name: str) -> None:
    """``name`` must be a lowercase Python package name that shadows nothing."""
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise UsageError(f"{name!r} is not a valid name: use lowercase letters, digits and '_', "
                         "starting with a letter (e.g. my_env)")
    from importlib.util import find_spec

    if find_spec(name) is not None:
        raise UsageError(f"{name!r} is already an importable module here; choose another name "
                         f"(e.g. {name}_env)")


def scaffold(name: str, output_dir: Path) -> Path:
    """Write the package ``output_dir/name``; returns its folder."""
    check_name(name)
    target = output_dir / name
    if target.exists():
        raise UsageError(f"{target} already exists; remove it or choose another name or --output-dir")
    values = placeholders(name)
    _copy(files("openenv_gym.cli") / "templates" / "env", target, values)
    return target


def _copy(source: Traversable, target: Path, values: dict[str, str]) -> None:
    target.mkdir(parents=True)
    for item in source.iterdir():
        name = Template(item.name).substitute(values)
        if item.is_dir():
            _copy(item, target / name, values)
        elif name.endswith(SUFFIX):
            text = Template(item.read_text(encoding="utf-8")).substitute(values)
            (target / name.removesuffix(SUFFIX)).write_text(text, encoding="utf-8")
