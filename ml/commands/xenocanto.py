"""`python -m ml xenocanto`: import Xeno-Canto bat recordings into a dataset folder (ml.xenocanto).

The API key comes from an environment variable (XENO_CANTO_API_KEY unless --key-env names another), never
from the command line, where `ps` and shell history would show it. Prints progress on stderr and one JSON
summary line on stdout; exits 1 on an API, key or network error (what was downloaded stays in the folder).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ml.xenocanto import (
    DEFAULT_BASE_URL,
    LICENCE_CODES,
    ClientConfig,
    ImportConfig,
    ImportProgress,
    XenoCantoClient,
    XenoCantoError,
    import_recordings,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--query", required=True, help='tagged query, e.g. "grp:bats cnt:netherlands q:A"')
    parser.add_argument(
        "--out", type=Path, required=True, help="dataset folder (created; earlier imports kept)"
    )
    parser.add_argument("--limit", type=int, default=None, help="stop after this many recordings")
    parser.add_argument(
        "--licence", action="append", choices=LICENCE_CODES, default=None,
        help="allow this licence (repeat for several; default: any)",
    )  # fmt: skip
    parser.add_argument("--min-sample-rate-hz", type=int, default=ImportConfig.min_sample_rate_hz)
    parser.add_argument("--keep-unmapped-species", action="store_true",
                        help="also import species outside the label vocabulary")  # fmt: skip
    parser.add_argument(
        "--key-env", default="XENO_CANTO_API_KEY", help="environment variable holding the key"
    )
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help=argparse.SUPPRESS)  # tests
    parser.add_argument("--min-interval-s", type=float, default=ClientConfig.min_interval_s,
                        help="seconds between requests (Xeno-Canto asks for at least 1)")  # fmt: skip


def _progress(p: ImportProgress) -> None:
    target = f"/{p.limit}" if p.limit else ""
    print(f"\rxenocanto: page {p.page}/{p.num_pages}, {p.imported}{target} imported, {p.skipped} skipped "
          f"{p.current:<40}", end="", file=sys.stderr, flush=True)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        client = XenoCantoClient(
            os.environ.get(args.key_env, ""),
            ClientConfig(base_url=args.base_url, min_interval_s=args.min_interval_s),
        )
        config = ImportConfig(
            min_sample_rate_hz=args.min_sample_rate_hz,
            allowed_licences=frozenset(args.licence) if args.licence else None,
            keep_unmapped_species=args.keep_unmapped_species,
        )
        result = import_recordings(
            client, args.query, args.out, limit=args.limit, config=config, progress=_progress
        )
    except XenoCantoError as exc:
        print(f"\npython -m ml xenocanto: {exc}", file=sys.stderr)
        if exc.partial is not None:
            print(json.dumps(exc.partial.summary()))
        return 1
    print(file=sys.stderr)
    print(json.dumps(result.summary()))
    return 0
