"""``hybridrl train --list-keys``: every key with its type, default and first sentence, grouped
by section; ``--list-keys KEY ...``: whole docs."""

from __future__ import annotations

import re
import textwrap

from hybridrl.config.keys import ALIASES, DEFAULTS, KEYS, SECTIONS, TRL_EXPLAINED, TYPES, canonical_key, field_docs
from hybridrl.config.values import type_name


def _first_sentence(doc: str) -> str:
    first = " ".join(doc.split())
    return re.split(r"(?<=[a-zA-Z0-9)`'])\. (?=[A-Z`])", first)[0].rstrip(".")


def _whole_docs(keys: list[str], width: int) -> str:
    docs = field_docs()
    out = []
    for k in keys:
        name = canonical_key(k)
        where = f", section {KEYS[name]}" if KEYS[name] else ""
        head = f"{name} ({type_name(TYPES[name])}, default {DEFAULTS.get(name)!r}){where}"
        body = textwrap.fill(" ".join(docs.get(name, "").split()) or "(no doc)", width, initial_indent="  ",
                             subsequent_indent="  ")
        out.append(f"{head}\n{body}")
    return "\n\n".join(out)


def describe_keys(width: int = 120, keys: list[str] | None = None) -> str:
    """Every config key with its type, default and first sentence (``hybridrl train --list-keys``),
    under a ``# section`` line per section, aligned on the longest key and wrapped, never cut;
    with ``keys`` (TRL/verl spellings accepted), their whole docs."""
    if keys:
        return _whole_docs(keys, width)
    docs = field_docs()
    kw = max(len(k) for k in KEYS)
    tw = max(len(type_name(t)) for t in TYPES.values())
    dw = max(len(str(DEFAULTS.get(k))) for k in KEYS)
    indent = " " * (kw + tw + dw + 3)
    lines = []
    for section in (None, *SECTIONS):
        if section is not None:
            summary = _first_sentence(SECTIONS[section].__doc__ or "")
            lines.append(f"\n# {section}: {summary}")
        for k in (k for k, s in KEYS.items() if s == section):
            head = f"{k:<{kw}} {type_name(TYPES[k]):<{tw}} {str(DEFAULTS.get(k)):<{dw}} "
            first = _first_sentence(docs.get(k, ""))
            lines.append(textwrap.fill(first, width, initial_indent=head, subsequent_indent=indent) if first
                         else head.rstrip())
    aliases = ", ".join(f"{a}->{c}" for a, c in ALIASES.items())
    return ("\n".join(lines) + f"\n\naliases (TRL / verl spellings): {aliases}\n"
            f"TRL names with no one-to-one key (refused, saying what to use): {', '.join(TRL_EXPLAINED)}\n"
            f"hybridrl train --list-keys KEY ... shows a key's whole doc")
