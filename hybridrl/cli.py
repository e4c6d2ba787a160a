"""The ``hybridrl`` command line (docs/design.md §5).

Each subcommand lives in ``hybridrl/commands/<name>.py`` with a ``register(subparsers)``
function; heavy imports (torch, transformers) happen inside the command functions.

Errors: a user's mistake (a bad key or value, a missing file, bad data, an unknown model or
task) prints one line ``hybridrl: error: ...`` and exits 2; ``--debug`` adds the traceback.
Anything else is a bug and keeps its traceback. An interrupted run exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("demo", "data", "train", "eval", "compare", "probe")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def build_parser() -> argparse.ArgumentParser:
    from hybridrl.commands import HelpFormatter

    p = argparse.ArgumentParser(
        prog="hybridrl",
        formatter_class=HelpFormatter,
        description="Post-train language models for reasoning with SFT, RL and their hybrids "
                    "(HPT, SuperRL, SASR, ...) on one loop and one loss.",
        epilog="examples:\n  hybridrl demo --quick\n  hybridrl train --method grpo --model tiny --task chain_sum "
               "--steps 2\n  hybridrl <command> --help",
    )
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (also accepted anywhere)")
    p.add_argument("--version", action="version", version=f"hybridrl {_version()}")
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hybridrl")
    except PackageNotFoundError:  # a source checkout that is not installed
        return "(not installed)"


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that are a user's mistake or environment, not a bug in hybridrl."""
    from hybridrl.data.loading import DataError
    from hybridrl.config import ConfigError

    return (ConfigError, DataError, FileNotFoundError, NotADirectoryError, PermissionError, OSError)


def one_line(e: BaseException) -> str:
    """The error as one line (multi-line messages are joined with '; ')."""
    text = str(e).strip() or type(e).__name__
    if isinstance(e, FileNotFoundError) and e.filename and str(e.filename) not in text:
        text = f"{text}: {e.filename}"
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come before or between options: argparse only takes one run of
    # positionals, so the rest arrive here and are appended in order
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides or []) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from hybridrl.training.loop.interrupt import RunInterrupted

    try:
        return args.func(args) or 0
    except RunInterrupted as e:  # the loop saved a checkpoint and says how to resume
        print(f"hybridrl: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside a training loop
        print("\nhybridrl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except user_errors() as e:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"hybridrl: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
