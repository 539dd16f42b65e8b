"""Benchmark (run by hand): server CPU and queries per page of the load rotation, in one process.

bench/web_load.py measures the whole server under wrk; this says which page costs what. It reuses the
database, users and requests that `bench/web_load.py --work DIR` left in DIR, and fetches one URL of each page
kind of the rotation with Django's test client (same settings, middleware and session cookies as gunicorn),
`--repeats` times, printing the median CPU time of the later fetches, the SQL queries and the share of the
rotation's CPU each kind takes (median x its share of the requests).

    .venv/bin/python bench/web_load.py --work /tmp/wl --duration 5 --warmup 1    # once: database, requests
    .venv/bin/python bench/web_page_cpu.py --work /tmp/wl [--repeats 40]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _kind(path: str, headers: str) -> str:
    return re.sub(r"\d+", "N", path.split("?")[0]) + (" (htmx)" if headers else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="the folder bench/web_load.py --work kept")
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    work = args.work.resolve()
    requests = (work / "app_requests.txt").read_text().splitlines()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.load_settings", BATSITE_VAR_DIR=str(work / "var"),
        MEDIA_ROOT=str(work / "media"), STATIC_ROOT=str(work / "static"),
        SECRET_KEY=(work / "secret_key").read_text(), DEBUG="false", BEHIND_PROXY="true",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver", LOG_LEVEL="WARNING",
    )  # fmt: skip
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    shares = Counter()
    first: dict[str, tuple[str, str, str]] = {}
    for line in requests:
        cookie, path, headers = (line.split("\t") + [""])[:3]
        kind = _kind(path, headers)
        shares[kind] += 1
        first.setdefault(kind, (cookie, path, headers))
    rows = []
    for kind, (cookie, path, headers) in first.items():
        client = Client(HTTP_X_FORWARDED_PROTO="https")
        for part in cookie.split("; "):
            name, value = part.split("=", 1)
            client.cookies[name] = value
        extra = {}
        for header in filter(None, headers.split("|")):
            name, value = header.split(": ", 1)
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        times = []
        for _ in range(args.repeats + 5):
            with CaptureQueriesContext(connection) as queries:
                started = time.process_time()
                response = client.get(path, secure=True, **extra)
                times.append(time.process_time() - started)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
        median = sorted(times[5:])[len(times[5:]) // 2]
        rows.append((kind, median, len(queries), shares[kind] / len(requests)))
    mean = sum(median * share for _, median, _, share in rows)
    print(f"{'page':<34} {'CPU ms':>7} {'queries':>7} {'requests':>8} {'CPU share':>9}")
    for kind, median, n_queries, share in sorted(rows, key=lambda r: -r[1] * r[3]):
        print(
            f"{kind:<34} {1000 * median:7.2f} {n_queries:7d} {100 * share:7.1f}% {100 * median * share / mean:8.1f}%"
        )
    print(f"rotation mean: {1000 * mean:.2f} ms CPU per request in-process (gunicorn adds HTTP and WSGI)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
