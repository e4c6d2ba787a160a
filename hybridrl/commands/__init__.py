"""One module per CLI subcommand, each with ``register(subparsers)``; imports stay light."""

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with defaults shown (``(default: 64)``) and descriptions/examples kept as written."""

    def _get_help_string(self, action):
        # no "(default: None)" / "(default: False)" noise: only real defaults are shown
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


EXAMPLE_NOTE = "Errors print one line `hybridrl: error: ...` and exit 2; add --debug for a traceback."

