"""Every registered method has an integration test: read from the test files themselves.

tests/methods/test_integration.py and each method's own tests/methods/test_<method>.py run the
real loop on the tiny model through
``make_trainer(tmp_path, METHOD, ...)`` / ``make_cfg(tmp_path, METHOD, ...)``. The AST of that
file says which method each test trains: a string constant, a ``for`` loop over constants, or a
``pytest.mark.parametrize`` argument (cases marked slow do not count: ``make test`` skips them).
A method counts as covered only if a test that runs by default trains it. A call whose method
cannot be resolved this way fails the check rather than being guessed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hybridrl.methods.registry import METHODS

INTEGRATION = Path(__file__).parent / "methods" / "test_integration.py"
TEST_FILES = sorted((Path(__file__).parent / "methods").glob("test_*.py"))
"""Where integration tests may be: test_integration.py, or the method's own test file."""
BUILDERS = {"make_trainer", "make_cfg"}  # (tmp_path, method, ...)


def _is_slow(node: ast.expr) -> bool:
    # pytest.mark.slow (as a decorator, or in a pytest.param's marks=)
    return isinstance(node, ast.Attribute) and node.attr == "slow"


def _param_values(decorator: ast.Call) -> dict[str, list[str]]:
    """{argname: [string values of the cases that run by default]} of one parametrize call."""
    names_node, cases_node = decorator.args[:2]
    names = [n.strip() for n in ast.literal_eval(names_node).split(",")] if isinstance(names_node, ast.Constant) \
        else [ast.literal_eval(e) for e in names_node.elts]
    out: dict[str, list[str]] = {n: [] for n in names}
    if not isinstance(cases_node, (ast.List, ast.Tuple)):
        return out  # cases computed at run time: no method read from them (a builder call fed by them fails)
    for case in cases_node.elts:
        if isinstance(case, ast.Call) and getattr(case.func, "attr", "") == "param":
            marks = [kw.value for kw in case.keywords if kw.arg == "marks"]
            flat = [m for mk in marks for m in (mk.elts if isinstance(mk, (ast.List, ast.Tuple)) else [mk])]
            if any(_is_slow(m) for m in flat):
                continue
            values = case.args
        else:
            values = case.elts if len(names) > 1 else [case]
        for name, v in zip(names, values):
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                out[name].append(v.value)
    return out


def methods_trained_by_tests(source: str) -> dict[str, set[str]]:
    """{test name: methods it trains} for the default-run tests of a test module's source.
    Raises ValueError on a builder call whose method argument it cannot resolve."""
    tree = ast.parse(source)
    result: dict[str, set[str]] = {}
    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_")):
            continue
        decorators = [d.func if isinstance(d, ast.Call) else d for d in fn.decorator_list]
        if any(_is_slow(d) for d in decorators):
            continue
        bindings: dict[str, list[str]] = {}
        for d in fn.decorator_list:
            if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize":
                bindings.update(_param_values(d))
        for node in ast.walk(fn):  # for NAME in ("a", "b"): ...
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and \
                    isinstance(node.iter, (ast.Tuple, ast.List)):
                bindings[node.target.id] = [e.value for e in node.iter.elts if isinstance(e, ast.Constant)]
        methods: set[str] = set()
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in BUILDERS):
                continue
            arg = node.args[1] if len(node.args) > 1 else next(
                (kw.value for kw in node.keywords if kw.arg == "method"), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                methods.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in bindings:
                methods.update(bindings[arg.id])
            else:
                raise ValueError(f"{fn.name}:{node.lineno}: cannot tell which method this call trains")
        if methods:
            result[fn.name] = methods
    return result


def test_every_method_has_an_integration_test():
    covered = set().union(*(m for f in TEST_FILES for m in methods_trained_by_tests(f.read_text()).values()))
    missing = sorted(set(METHODS) - covered)
    assert missing == [], f"methods without a (default-run) integration test in tests/methods/: {missing}"
    assert covered <= set(METHODS), sorted(covered - set(METHODS))  # no test of a method that does not exist


SAMPLE = '''
import pytest

def test_constant(tmp_path):
    t = make_trainer(tmp_path, "sft")

def test_loop(tmp_path):
    for method in ("grpo", "rloo"):
        make_trainer(tmp_path, method, old_logprobs="sampling")

@pytest.mark.parametrize("reward,decision,method", [("always_zero", "sparse", "hpt")])
def test_delegates(tmp_path, reward, decision, method):
    make_trainer(tmp_path, "auto", reward)  # trains auto; "method" is what it picks

@pytest.mark.parametrize("method", ["superrl", pytest.param("sasr", marks=pytest.mark.slow)])
def test_resume(tmp_path, method):
    Trainer(make_cfg(tmp_path / "full", method, steps=6))

@pytest.mark.slow
def test_slow(tmp_path):
    make_trainer(tmp_path, "ppo")

def test_keyword(tmp_path):
    make_cfg(tmp_path, method="luffy")

def helper(tmp_path):
    make_trainer(tmp_path, "srft")  # not a test
'''


def test_the_reader_resolves_constants_loops_and_parameters_and_skips_slow_cases():
    assert methods_trained_by_tests(SAMPLE) == {
        "test_constant": {"sft"}, "test_loop": {"grpo", "rloo"}, "test_delegates": {"auto"},
        "test_resume": {"superrl"}, "test_keyword": {"luffy"}}


def test_the_reader_refuses_to_guess():
    with pytest.raises(ValueError, match="test_dynamic"):
        methods_trained_by_tests("def test_dynamic(tmp_path):\n    make_trainer(tmp_path, pick())\n")


def test_removing_an_integration_test_is_noticed():
    # the real file without its only SSR test: ssr is then reported missing
    tree = ast.parse(INTEGRATION.read_text())
    tree.body = [n for n in tree.body if getattr(n, "name", "") != "test_ssr_alternates"]
    others = [f for f in TEST_FILES if f != INTEGRATION]
    covered = set().union(*methods_trained_by_tests(ast.unparse(tree)).values(),
                          *(m for f in others for m in methods_trained_by_tests(f.read_text()).values()))
    assert "ssr" not in covered and set(METHODS) - covered == {"ssr"}
