"""The layers are what the folder names say: each imports only the layers below it, and no two
modules import each other (checked here as the linters are checked; the picture is in
docs/architecture.md).

Imports under ``if TYPE_CHECKING:`` are not imports at run time and do not count. A function
may import upward only where listed in :data:`LAZY`, with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_packaging import ROOT

pytestmark = pytest.mark.fast

LAYERS: dict[str, set[str]] = {
    # layer: the layers it may import (besides itself)
    "shared": set(),  # errors, types, mcp_types, excerpts, settings, addresses
    "protocol": {"shared"},
    "client": {"protocol", "shared"},
    "server": {"protocol", "shared"},
    "envs": {"server", "protocol", "shared"},
    "catalog": {"envs", "protocol", "shared"},  # catalog, manifest, registration: the env ids
    "vector": {"client", "protocol", "shared"},
    "providers": {"vector", "client", "catalog", "protocol", "shared"},
    "wrappers": {"providers", "vector", "client", "catalog", "protocol", "shared"},
    "cli": {"wrappers", "providers", "vector", "client", "catalog", "server", "envs", "protocol", "shared",
            "benchmark", "package"},
    "benchmark": set(),
    "package": {"client", "catalog", "shared"},  # openenv_gym/__init__.py: the public names
}
SHARED = {"errors", "types", "mcp_types", "excerpts", "settings", "addresses"}
CATALOG = {"catalog", "manifest", "registration"}
LAZY = {
    ("openenv_gym.providers.inprocess", "openenv_gym.server"):
        "the in-process provider is the one place the client side holds a server part",
    ("openenv_gym.providers.inprocess", "openenv_gym.server.batch"): "the same",
    ("openenv_gym.envs.coding.filesystem", "openenv_gym"):
        "finds the package's folder, to hide the environments' source from tenants",
    ("openenv_gym.wrappers.atari", "openenv_gym.envs.atari.roms"):
        "the ALE view lists ale-py's games, which the Atari environment's module knows",
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] in SHARED:
        return "shared"
    if parts[1] in CATALOG:
        return "catalog"
    return parts[1]


LINKED = ("server", "envs", "wrappers")
"""Top-level folders linked into the package as ``openenv_gym.<name>``."""


def modules() -> dict[str, Path]:
    found = {}
    paths = [p for p in (ROOT / "openenv_gym").rglob("*.py") if p.relative_to(ROOT).parts[1] not in LINKED]
    paths += [p for folder in LINKED for p in (ROOT / folder).rglob("*.py")]
    for path in paths:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if "templates" in parts:
            continue
        if parts[0] in LINKED:
            parts.insert(0, "openenv_gym")
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> Iterator[tuple[str, bool]]:
    """Each module ``module`` imports, and whether it is at module level."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    top_level = {id(node) for node in tree.body}
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            yield from ((name if name in MODULES else target, id(node) in top_level) for name in names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, id(node) in top_level) for alias in node.names)


MODULES = modules()
GRAPH = {module: [(t, top) for t, top in imports(module, path) if t in MODULES and t != module]
         for module, path in MODULES.items()}


def test_the_layers_are_found():
    assert {layer_of(m) for m in MODULES} == set(LAYERS)


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{module} imports {target} ({layer_of(module)} -> {layer_of(target)})"
              for module, targets in GRAPH.items() for target in dict.fromkeys(t for t, _ in targets)
              if layer_of(target) != layer_of(module)
              and layer_of(target) not in LAYERS[layer_of(module)] and (module, target) not in LAZY]
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    graph = {m: {t for t, top in targets if top} for m, targets in GRAPH.items()}
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, "\n".join(cycles)
