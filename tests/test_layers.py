"""The package layers of ``hybridrl`` (an AST scan of every import, lazy ones included):

    core -> rollout / rewards / data / models / distributed -> methods -> config -> training -> integrations -> eval
         -> report -> pipelines -> commands

A module may import from its own layer or any layer before it, never from a later one, and
the packages never import each other in a cycle. ``schema`` (the row record of the data contract,
docs/design.md, which imports nothing of ``hybridrl``) sits with ``core`` at the bottom: every
layer reads rows, and ``rewards`` reads them without importing ``data`` (which scores
demonstrations with ``rewards``). Modules directly under ``hybridrl/`` (``cli``, ``api``, moved-module
aliases) are the top layer, with ``commands``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "hybridrl"

LAYERS: list[set[str]] = [
    {"core", "schema"},
    {"rollout", "rewards", "data", "models", "distributed"},
    {"methods"},
    {"config"},  # typed sections; collects the methods' options dataclasses from the registry
    {"training"},  # loop, update engine, run persistence (their own order: TRAINING_PARTS)
    {"integrations"},  # TRL / verl plug-ins (#27): over training, under nothing of ours
    {"eval"},
    {"report"},
    {"pipelines"},
    {"commands", "<root>"},
]
RANK = {node: i for i, layer in enumerate(LAYERS) for node in layer}
LEAVES: set[str] = set()
"""Modules that are their own node (not their package's)."""


def node_of(module: str) -> str | None:
    """``hybridrl.training.loop.trainer`` -> ``training``; ``hybridrl.cli`` -> ``<root>``; others -> None."""
    parts = module.split(".")
    if parts[0] != "hybridrl":
        return None
    if len(parts) >= 3 and ".".join(parts[1:3]) in LEAVES:
        return ".".join(parts[1:3])
    if len(parts) == 1 or not (PKG / parts[1]).is_dir():
        return "<root>"
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Absolute ``hybridrl`` modules imported anywhere in the file (functions included)."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out += [(a.name, n.lineno) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                base = ".".join(package[: len(package) - n.level + 1] + ([base] if base else []))
            out += [(f"{base}.{a.name}" if (PKG.parent / (base + "." + a.name).replace(".", "/")).exists()
                     or (PKG.parent / ((base + "." + a.name).replace(".", "/") + ".py")).exists() else base,
                     n.lineno) for a in n.names]
    return [(m, line) for m, line in out if m.split(".")[0] == "hybridrl"]


def edges() -> list[tuple[str, str, str]]:
    """(from node, to node, 'file:line -> module') for every import across nodes."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        src = node_of(module_name(path))
        for mod, line in imports_of(path):
            dst = node_of(mod)
            if dst is not None and dst != src:
                out.append((src, dst, f"{path.relative_to(PKG.parent)}:{line} -> {mod}"))
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


TRAINING_PARTS = {"persistence": 0, "update": 0, "loop": 1}
"""Inside ``hybridrl.training``: the loop calls the update engine and run persistence, which
import neither each other nor the loop."""


def test_training_parts_import_in_order():
    bad = []
    for path in sorted((PKG / "training").rglob("*.py")):
        src = module_name(path).split(".")
        if len(src) < 3:
            continue
        for mod, line in imports_of(path):
            dst = mod.split(".")
            if dst[:2] == ["hybridrl", "training"] and len(dst) > 2 and dst[2] != src[2] \
                    and TRAINING_PARTS[dst[2]] >= TRAINING_PARTS[src[2]]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} -> {mod}")
    assert set(TRAINING_PARTS) == {p.name for p in (PKG / "training").iterdir() if (p / "__init__.py").exists()}
    assert not bad, "training parts importing against their order:\n" + "\n".join(bad)


def test_every_package_has_a_layer():
    nodes = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert nodes <= set(RANK), f"packages without a layer: {sorted(nodes - set(RANK))}"


def test_no_import_against_the_layer_order():
    bad = [where for src, dst, where in edges() if RANK[dst] > RANK[src]]
    assert not bad, "imports from a later layer:\n" + "\n".join(bad)


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for src, dst, _ in edges():
        graph.setdefault(src, set()).add(dst)
    cycle = find_cycle(graph)
    assert cycle is None, "package import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_a_cycle_and_an_upward_import():
    # the checkers themselves: a -> b -> a is a cycle; training importing eval goes up a layer
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert RANK[node_of("hybridrl.eval.evaluate")] > RANK[node_of("hybridrl.training.loop.trainer")]
    assert node_of("hybridrl.schema") == "schema" and node_of("hybridrl.data.loading") == "data"
    assert node_of("hybridrl.cli") == "<root>" and node_of("numpy") is None


def test_rewards_and_data_do_not_import_each_other_both_ways():
    # the one arrow that ran back up: rewards imported data.schema.Row while data scores
    # demonstrations with rewards; the row record now lives below both (hybridrl.schema)
    arrows = {(src, dst) for src, dst, _ in edges()}
    assert ("data", "rewards") in arrows and ("rewards", "data") not in arrows


def test_no_module_cycle_inside_rewards():
    # equivalence -> pool (the guarded worker pool) <- scoring -> _worker -> equivalence: no loop
    graph: dict[str, set[str]] = {}
    for path in (PKG / "rewards").glob("*.py"):
        graph[module_name(path)] = {m for m, _ in imports_of(path) if m.startswith("hybridrl.rewards.")}
    assert "hybridrl.rewards.pool" in graph["hybridrl.rewards.equivalence"]
    assert find_cycle(graph) is None
