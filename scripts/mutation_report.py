"""Summarise a mutmut run (``make mutation``) into docs/mutation-survivors.txt.

Run from the repository root after ``mutmut run`` (it reads ``mutants/``). Writes the score
(killed + timeout over the mutants checked), the counts per module, and every surviving mutant
as a one-line diff, so a reader can classify it (equivalent or a missing test) without mutmut.
Uses mutmut 3.8's data API (``mutmut.mutation``), hence the pin in the ``mutation`` extra.

    python scripts/mutation_report.py [--out docs/mutation-survivors.txt]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path

DETECTED = {"killed", "timeout", "caught by type check", "segfault"}


def collect():
    """(status per mutant name, path per mutant name) from mutants/**/*.meta."""
    from mutmut.configuration import config  # noqa: F401  (loads setup.cfg's [mutmut])
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    status, where = {}, {}
    for path in walk_mutatable_files():
        m = SourceFileMutationData(path=path)
        m.load()
        for name, code in m.exit_code_by_key.items():
            status[name] = status_by_exit_code[code]
            where[name] = path
    return status, where


def one_line_diff(name: str, path) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path).splitlines()
    minus = [l[1:].strip() for l in diff if l.startswith("-") and not l.startswith("---")]
    plus = [l[1:].strip() for l in diff if l.startswith("+") and not l.startswith("+++")]
    return f"{' / '.join(minus)}  ->  {' / '.join(plus)}"


# Heuristic tags for survivors that are usually equivalent mutants (docs/testing.md); a tag is a
# hint for the reader, not a verdict: each tagged survivor still needs a look.
_LIKELY_EQUIVALENT = [
    ("message text", re.compile(r"raise \w+\(|warn\(|logger\.\w+\(")),
    ("device on CPU", re.compile(r"device=[\w.]+\.device.*->.*(device=None|, \))")),
    ("float('INF') == inf", re.compile(r'float\("-?INF"\)')),
    ("axis -1 == +1 on 2-D", re.compile(r"(sum|unsqueeze|shape\[|size)\(?[+]1[\])]")),
]


EQUIVALENTS = Path("tests/mutation_equivalents.txt")


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Mutants classified by hand as equivalent: {name: reason} (one ``name  reason`` a line)."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.strip().partition(" ")
                out[name] = reason.strip()
    return out


def tag(name: str, diff: str) -> str:
    """A hint on why a survivor may be equivalent ('' when none applies)."""
    func = re.split(r"\.x[_\u01c1]", name)[-1]
    if func.startswith(("register_", "_register", "register")) or "register_" in name:
        return "untestable here: import-time registration, runs before mutmut's fork so its mutant is never active"
    for label, pattern in _LIKELY_EQUIVALENT:
        if pattern.search(diff):
            return f"likely equivalent: {label}"
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/mutation-survivors.txt")
    args = ap.parse_args()
    status, where = collect()
    equivalent = load_equivalents()
    counts = Counter(status.values())
    checked = sum(v for k, v in counts.items() if k not in ("not checked", "no tests", "skipped"))
    detected = sum(counts[k] for k in DETECTED)
    by_module: dict[str, Counter] = defaultdict(Counter)
    for name, s in status.items():
        by_module[re.split(r"\.x[_\u01c1]", name)[0]][s] += 1  # module.x_func / module.xǁClassǁmethod
    lines = [
        f"# mutmut survivors ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC): `make mutation`",
        f"# generated {len(status)}, checked {checked}, detected {detected} (killed {counts['killed']}, "
        f"timeout {counts['timeout']}), survived {counts['survived']}, no tests {counts['no tests']}, "
        f"not checked {counts['not checked']}",
        f"# score = detected / checked = {detected / checked:.1%}" if checked else "# score: nothing checked",
    ]
    alive = [n for n, st in status.items() if st in ("survived", "no tests")]
    eq = [n for n in alive if n in equivalent]
    eq_checked = sum(1 for n in eq if status[n] == "survived")
    lines += [
        f"# equivalent (classified by hand, {EQUIVALENTS}): {len(eq)}; score without them = "
        f"{detected} / {checked - eq_checked} = {detected / max(1, checked - eq_checked):.1%}",
        f"# not detected and not equivalent (survived + no tests - equivalent): {len(alive) - len(eq)} = "
        f"{(len(alive) - len(eq)) / max(1, len(status)):.1%} of the {len(status)} generated (#18 target: <= 10%)",
    ]
    stale = sorted(n for n in equivalent if status.get(n) not in ("survived", "no tests"))
    if stale:
        lines.append(f"# listed as equivalent but not alive in this run (killed, unchecked or renamed): {', '.join(stale)}")
    lines += [
        "#",
        "# module: detected / checked (survived)",
    ]
    for mod in sorted(by_module):
        c = by_module[mod]
        chk = sum(v for k, v in c.items() if k not in ("not checked", "no tests", "skipped"))
        lines.append(f"#   {mod}: {sum(c[k] for k in DETECTED)} / {chk} ({c['survived']})")
    lines.append("#")
    lines.append("# survivors (mutant name [status; classification or heuristic hint]: original -> mutant);")
    lines.append("# 'equivalent: ...' = classified by hand; 'likely ...' = an unconfirmed hint; untagged ones are")
    lines.append("# presumed missing tests. docs/testing.md says how survivors are classified.")
    for name in sorted(n for n, s in status.items() if s in ("survived", "no tests")):
        try:
            diff = one_line_diff(name, where[name])
        except Exception as e:  # a diff that cannot be rebuilt is listed without it
            diff = f"(diff unavailable: {type(e).__name__})"
        hint = f"equivalent: {equivalent[name]}" if name in equivalent else tag(name, diff)
        lines.append(f"{name} [{status[name]}{'; ' + hint if hint else ''}]: {diff}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:5]))


if __name__ == "__main__":
    main()
