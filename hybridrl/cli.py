"""The ``hybridrl`` command line (DESIGN §5).

Each subcommand lives in ``hybridrl/commands/<name>.py`` with a ``register(subparsers)``
function; heavy imports (torch, transformers) happen inside the command functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("demo", "data", "train", "eval", "compare", "probe")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hybridrl",
        description="Post-train language models for reasoning with SFT, RL and their hybrids "
                    "(HPT, SuperRL, SASR, ...) on one loop and one loss.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"hybridrl.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"hybridrl.commands.{name}":
                continue  # a command not built yet
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come before or between options: argparse only takes one run of
    # positionals, so the rest arrive here and are appended in order
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides or []) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from hybridrl.data.loading import DataError
    from hybridrl.train.config import ConfigError

    try:
        return args.func(args) or 0
    except (ConfigError, DataError, FileNotFoundError) as e:
        print(f"hybridrl: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
