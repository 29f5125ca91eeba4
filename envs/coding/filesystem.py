"""What of the machine's file system a sandbox sees: the system's directories and the
interpreter, read-only; never this package's source (the tasks' expected values are in it), nor
the host's ``/run`` (its Unix sockets), ``/home``, ``/root`` or a checkout.

By mode (:mod:`.launch`):

* ``bwrap``: a root of its own made of read-only binds of :data:`SYSTEM` and the interpreter's
  folders, with empty private ``/tmp``, ``/var/tmp`` and ``/dev/shm`` and an empty folder over
  the package's source where it lies among them (:func:`bwrap_arguments`).
* ``namespaces``: the machine's tree, in a mount namespace of the worker's own with an empty
  folder over the package's source and over ``/run``, private ``/tmp``, ``/var/tmp``,
  ``/dev/shm`` and its own ``/proc`` (:func:`.worker.private_view`); and the Landlock allowlist
  below, where the kernel has Landlock.
* ``user``: the Landlock allowlist (:func:`landlock_rules`) where the kernel has it: the same
  folders read-only, its scratch directory and ``/dev/shm`` writable. Without Landlock (before
  Linux 5.13) the code reads what the server's user reads.

>>> beneath(["/usr"], [])
['/usr']
>>> allowed = beneath(["/usr"], ["/usr/lib"])
>>> "/usr/lib" in allowed, "/usr/bin" in allowed
(False, True)
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import site
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from . import landlock

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
"""The machine's folders every sandbox reads: programs, libraries, configuration."""
PRIVATE_TMPFS = ("/tmp", "/var/tmp", "/dev/shm")
"""Writable folders each sandbox gets empty and of its own (as root)."""
HIDDEN_AS_ROOT = ("/run",)
"""Covered by an empty folder where the machine's tree is seen (``namespaces``): sockets live there."""
PACKAGE = "openenv-gym"


def _inside(path: str, folders: list[str] | tuple[str, ...]) -> bool:
    """``path`` is one of ``folders`` or below one."""
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _outermost(paths: set[str]) -> list[str]:
    """The paths that lie below none of the others."""
    return sorted(p for p in paths if not _inside(p, [q for q in paths if q != p]))


def _editable_source() -> list[str]:
    """Where an editable install (``pip install -e``) of the package keeps its source."""
    try:
        text = importlib.metadata.distribution(PACKAGE).read_text("direct_url.json") or "{}"
    except importlib.metadata.PackageNotFoundError:
        return []
    info = json.loads(text)
    url = info.get("url", "")
    if not info.get("dir_info", {}).get("editable") or not url.startswith("file://"):
        return []
    return [os.path.realpath(urllib.parse.unquote(url.removeprefix("file://")))]


@functools.cache
def sources() -> list[str]:
    """This package's folders (their real paths: a checkout links ``server``, ``envs`` and
    ``wrappers`` into it), the checkout they are in (its tests hold solutions too), and an
    editable install's source."""
    import openenv_gym

    package = Path(openenv_gym.__file__).resolve().parent
    folders = {package, *(p.resolve() for p in package.iterdir() if p.is_symlink() and p.is_dir())}
    checkouts = {folder.parent for folder in folders if (folder.parent / "pyproject.toml").is_file()}
    return _outermost({*map(str, folders | checkouts), *_editable_source()})


def _pth_folders(site_folder: str) -> list[str]:
    """The folders the ``.pth`` files of a site folder add to the path (as :mod:`site` reads
    them, without running their ``import`` lines)."""
    folders = []
    for pth in sorted(Path(site_folder).glob("*.pth")):
        for line in pth.read_text(errors="replace").splitlines():
            if line.strip() and not line.startswith(("#", "import ", "import\t")):
                folders.append(os.path.join(site_folder, line.rstrip()))
    return folders


@functools.cache
def interpreter() -> list[str]:
    """The folders the worker's interpreter (``python -I``: no ``PYTHONPATH``, no user site)
    needs: its installations, and the folders its site folders' ``.pth`` files add, but those
    of this package's source (an editable install's)."""
    added = [folder for site_folder in site.getsitepackages() for folder in _pth_folders(site_folder)]
    entries = {os.path.realpath(p) for p in added if os.path.isdir(p)}
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    return _outermost({*prefixes, *(p for p in entries if not _inside(p, sources()))})


def beneath(roots: list[str], hidden: list[str]) -> list[str]:
    """``roots`` without ``hidden``: a root that holds a hidden path is replaced by its entries,
    but the hidden one (for allowlists that cannot take a path back, as Landlock's)."""
    allowed = []
    for root in roots:
        if root in hidden:
            continue
        if not any(_inside(h, [root]) for h in hidden):
            allowed.append(root)
            continue
        with os.scandir(root) as entries:
            allowed += beneath(sorted(entry.path for entry in entries), hidden)
    return allowed


def _visible_roots() -> list[str]:
    """What the worker reads: the system's folders and the interpreter's."""
    return _outermost({*(p for p in SYSTEM if os.path.exists(p)), *interpreter()})


def bwrap_arguments() -> list[str]:
    """bubblewrap's arguments for the sandbox's root: binds, private folders, covers, in the
    order they must be mounted (a venv under ``/tmp`` or inside a checkout is bound after the
    folder that covers it)."""
    args = []
    for path in SYSTEM:
        if os.path.islink(path):  # /bin -> usr/bin on a merged /usr
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for path in PRIVATE_TMPFS:
        args += ["--perms", "1777", "--tmpfs", path]
    covered = [*PRIVATE_TMPFS, *(s for s in sources() if _inside(s, _visible_roots()))]
    for path in covered[len(PRIVATE_TMPFS):]:
        args += ["--tmpfs", path]
    for path in interpreter():
        if not _inside(path, SYSTEM) or _inside(path, covered):
            args += _folders_above(path) + ["--ro-bind", path, path]
    return args


def _folders_above(path: str) -> list[str]:
    """bubblewrap's arguments making the folders above ``path`` that the sandbox's root lacks
    open to all (made by itself, they would copy the mode of ``/root``: closed to the user)."""
    args = []
    for folder in reversed(Path(path).parents[:-1]):
        if not _inside(str(folder), SYSTEM):
            args += ["--perms", "0755", "--dir", str(folder)]
    return args


def landlock_rules() -> list[tuple[str, int]]:
    """The Landlock allowlist the server makes: :data:`SYSTEM` and the interpreter read-only
    (less the package's source), ``/dev``'s devices. The worker adds ``/proc`` and the folders
    it writes to (:func:`late_rules`): in the ``namespaces`` mode it mounts them itself."""
    rules = [(path, landlock.READ) for path in beneath(_visible_roots(), sources())]
    return [*rules, ("/dev", landlock.DEVICES)]


def late_rules(writable: list[str]) -> list[tuple[str, int]]:
    """What the worker adds to the allowlist once its own mounts are made: ``/proc`` to read,
    ``writable`` with every right."""
    return [("/proc", landlock.PROC), *((path, landlock.handled(landlock.abi())) for path in writable)]


def worker_files(mode: str, scratch: str | None) -> dict[str, Any]:
    """The worker's configuration for its view of the files: ``landlock`` (a ruleset's
    descriptor, which the caller passes to the worker and then closes, and the rules the worker
    adds; ``None`` under bubblewrap or without Landlock) and, in the ``namespaces`` mode,
    ``view`` (:func:`.worker.private_view`). ``scratch``: the ``user`` mode's working folder."""
    if mode == "bwrap":
        return {"landlock": None}
    writable = list(PRIVATE_TMPFS) if mode == "namespaces" else [str(scratch), "/dev/shm"]
    ruleset = landlock.make_ruleset(landlock_rules())
    files: dict[str, Any] = {"landlock": None if ruleset is None else {"fd": ruleset,
                                                                       "rules": late_rules(writable)}}
    if mode == "namespaces":
        files["view"] = {"hidden": [*sources(), *HIDDEN_AS_ROOT], "private": list(PRIVATE_TMPFS),
                         "interpreter": interpreter()}
    return files
