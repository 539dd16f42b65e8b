"""One module per `python -m ml` command: `add_arguments(parser)` and `run(args) -> int`."""
