"""Command line entry point: `python -m ml COMMAND ...`.

Each command lives in its own module under ml/commands with `add_arguments(parser)` and `run(args) -> int`;
modules are imported only when their command runs, so `python -m ml info` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("ml.commands.info", "print header and metadata of WAV files as JSON lines"),
    "detect": ("ml.commands.detect", "detect bat calls in WAV files"),
    "synth": ("ml.commands.synth", "generate a synthetic labelled dataset"),
    "train": ("ml.commands.train", "train a classifier on dataset folders"),
    "evaluate": ("ml.commands.evaluate", "score a model on a dataset folder"),
    "analyse": ("ml.commands.analyse", "analyse WAV files with a model"),
    "explain": ("ml.commands.explain", "draw an occlusion map for one file"),
    "xenocanto": ("ml.commands.xenocanto", "import Xeno-Canto recordings into a dataset folder"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name = argv[0]
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            print(f"python -m ml {name}: not available in this version", file=sys.stderr)
            return 2
        raise
    command_parser = argparse.ArgumentParser(prog=f"python -m ml {name}", description=help_text)
    module.add_arguments(command_parser)
    args = command_parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
