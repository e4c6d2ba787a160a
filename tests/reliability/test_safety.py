"""Safety by inspection: no eval/exec anywhere in the package, every torch.load is
weights_only=True, nothing touches the network at import, and the reasoning-gym scorers that
evaluate answers as code only ever see answers that cannot call anything."""

import ast
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import hybridrl

PKG = Path(hybridrl.__file__).parent
SOURCES = sorted(PKG.rglob("*.py"))


def calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def name_of(func) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return f"{name_of(func.value)}.{func.attr}"
    return "?"


def test_no_eval_or_exec_in_the_package():
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for c in calls(tree):
            n = name_of(c.func)
            # model.eval() (a torch module's mode switch) is fine; builtins eval/exec/compile are not
            if n in ("eval", "exec", "compile", "builtins.eval", "builtins.exec", "__import__") or \
                    n.endswith(("parse_expr", "sympify", "pickle.loads", "literal_eval")):
                found.append(f"{path.relative_to(PKG)}:{c.lineno}: {n}(")
            if n.startswith("subprocess.") and any(k.arg == "shell" for k in c.keywords):
                found.append(f"{path.relative_to(PKG)}:{c.lineno}: {n}(shell=...)")
    assert found == []
    # and the text grep agrees (catches getattr tricks the AST walk would miss)
    pattern = re.compile(r"(?<![\w.])(eval|exec)\s*\(")
    assert [f"{p.relative_to(PKG)}:{i}" for p in SOURCES for i, l in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(l.split("#")[0])] == []


def test_every_torch_load_is_weights_only():
    loads = []
    for path in SOURCES:
        for c in calls(ast.parse(path.read_text())):
            if name_of(c.func) in ("torch.load", "load") and path.name != "__init__.py" and \
                    name_of(c.func) == "torch.load":
                kw = {k.arg: k.value for k in c.keywords}
                ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                loads.append((f"{path.relative_to(PKG)}:{c.lineno}", ok))
    assert loads, "expected at least the checkpoint loader"
    assert [where for where, ok in loads if not ok] == []


def test_importing_every_module_makes_no_network_call():
    code = r"""
import socket, pkgutil, importlib, sys
def refuse(*a, **k):
    raise AssertionError(f"network call at import: {a[:2]}")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import hybridrl
names = [m.name for m in pkgutil.walk_packages(hybridrl.__path__, "hybridrl.")]
skipped = []
for name in names:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:  # optional extras (vllm) not installed
        skipped.append(f"{name} ({e.name})")
print(len(names), "modules;", "skipped:", skipped)
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HF_")}  # not offline
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "modules;" in r.stdout


def test_tests_run_offline_hub_libraries(monkeypatch, tmp_path):
    """The Hugging Face libraries are in offline mode (their own flags, read at import), so a
    download fails at once from the local cache, without even trying to connect."""
    import huggingface_hub
    import offline_guard
    import transformers.utils.hub as transformers_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    assert constants.HF_HUB_OFFLINE is True and huggingface_hub.is_offline_mode() is True
    assert transformers_hub.is_offline_mode() is True
    attempts = []

    def record(sock, address):
        attempts.append(address)
        raise offline_guard.NetworkRefused(address)

    monkeypatch.setattr(offline_guard, "_check", record)
    with pytest.raises(LocalEntryNotFoundError):
        huggingface_hub.hf_hub_download("hybridrl-test/does-not-exist", "config.json", cache_dir=str(tmp_path))
    assert attempts == []  # offline mode, not a refused connection, stopped it


# 192.0.2.0/24 is TEST-NET-1 (RFC 5737): reserved for documentation, routed nowhere
NON_LOOPBACK = [("192.0.2.1", 443, socket.AF_INET), ("2001:db8::1", 443, socket.AF_INET6),
                ("example.com", 80, socket.AF_INET), ("10.0.0.1", 80, socket.AF_INET)]


@pytest.mark.parametrize("host,port,family", NON_LOOPBACK)
def test_tests_run_offline_non_loopback_connect_is_refused(host, port, family, monkeypatch):
    """tests/conftest.py refuses a connection to anything but loopback before the system call:
    the real connect is replaced by a recorder, which must never be reached."""
    import offline_guard as guard  # installed by tests/conftest.py

    assert socket.socket.connect is guard.guarded_connect
    assert socket.socket.connect_ex is guard.guarded_connect_ex
    reached = []
    monkeypatch.setattr(guard, "_REAL_CONNECT", lambda sock, addr: reached.append(addr))
    monkeypatch.setattr(guard, "_REAL_CONNECT_EX", lambda sock, addr: reached.append(addr) or 0)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        addr = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        with pytest.raises(guard.NetworkRefused):
            sock.connect(addr)
        with pytest.raises(guard.NetworkRefused):
            sock.connect_ex(addr)
    if host[0].isdigit() or ":" in host:  # an IP literal: create_connection resolves nothing
        with pytest.raises(ConnectionRefusedError):  # what HTTP clients see (an OSError)
            socket.create_connection((host, port), timeout=0.1)
    assert reached == []


@pytest.mark.parametrize("host,family", [("127.0.0.1", socket.AF_INET), ("localhost", socket.AF_INET),
                                         ("::1", socket.AF_INET6)])
def test_tests_run_offline_loopback_still_connects(host, family):
    # the reward workers, CLI subprocesses and gloo rendezvous use loopback: it must still work
    try:
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    except OSError:
        pytest.skip(f"no {family.name} loopback here")
    with server:
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection((host, port), timeout=5) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"


def test_tests_run_offline_guard_classifies_addresses():
    import offline_guard as guard

    local = ["/tmp/x.sock", b"\0abstract", ("127.0.0.1", 1), ("127.5.6.7", 1), ("localhost", 1), ("::1", 1, 0, 0)]
    remote = [("192.0.2.1", 1), ("8.8.8.8", 53), ("2001:db8::1", 1, 0, 0), ("huggingface.co", 443), ("0.0.0.0", 1),
              ("::ffff:192.0.2.1", 1, 0, 0)]
    assert [guard.is_local_address(a) for a in local] == [True] * len(local)
    assert [guard.is_local_address(a) for a in remote] == [False] * len(remote)


def test_every_reasoning_gym_scorer_that_evals_is_guarded():
    """reasoning-gym's own source: a score_answer that reaches eval/parse_expr/sympify on the
    answer must belong to a task in SAFE_RG_ANSWERS."""
    import inspect

    import reasoning_gym
    from reasoning_gym.factory import DATASETS

    from hybridrl.rewards.verifiers import SAFE_RG_ANSWERS

    risky = re.compile(r"\beval\(|parse_expr\(|sympify\(|\bexec\(")
    unguarded = []
    for name, (cls, _) in DATASETS.items():
        src = inspect.getsource(cls.score_answer) if hasattr(cls, "score_answer") else ""
        # eval of the reference only (entry["answer"]) is the dataset's business, not the model's
        lines = [l for l in src.splitlines() if risky.search(l) and 'entry["answer"]' not in l
                 and "metadata[" not in l]
        if lines and name not in SAFE_RG_ANSWERS:
            unguarded.append((name, lines[0].strip()))
    assert unguarded == []


@pytest.mark.parametrize("task", ["countdown", "puzzle24", "polynomial_multiplication", "simple_integration",
                                  "intermediate_integration", "spiral_matrix", "binary_matrix", "n_queens",
                                  "string_insertion"])
def test_code_in_answers_never_runs_and_right_answers_still_score(task, tmp_path):
    import reasoning_gym

    from hybridrl.schema import Row
    from hybridrl.rewards.verifiers import ReasoningGymVerifier

    v = ReasoningGymVerifier(task)
    canary = tmp_path / "ran"
    for e in reasoning_gym.create_dataset(task, size=5, seed=0):
        row = Row(e["question"], [str(e["answer"])], task=task, metadata=e["metadata"])
        assert v.score(f"<answer>{e['answer']}</answer>", row).correct  # the guard keeps right answers
        for payload in (f"__import__('os').system('touch {canary}')", f"open('{canary}', 'w')",
                        f"[open('{canary}','w') for x in [1]]"):
            for wrap in ("<answer>%s</answer>", "\\boxed{%s}"):
                assert v.score(wrap % payload, row).score == 0.0
    assert not canary.exists()
