"""Benchmark (run by hand): what the fsyncs of durable uploads cost.

Stores N staged files of SIZE bytes the way the upload service does (write the staged file, fsync it when
durable, rename it into recordings/<project>/<xx>/<sha256>.wav through the storage), once with Django's plain
FileSystemStorage and once with batsite.storage.DurableFileSystemStorage, twice each, and prints the times.

    .venv/bin/python bench/upload_fsync.py --files 200 --size-bytes 1000000 [--dir var]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(USE_TZ=True)
django.setup()

from django.core.files.storage import FileSystemStorage  # noqa: E402

from batsite.storage import DurableFileSystemStorage, fsync_path  # noqa: E402
from surveys.uploads import StagedContent, StagedFile  # noqa: E402


def store_all(storage_class: type[FileSystemStorage], *, durable: bool, files: int, size_bytes: int,
              parent: Path) -> float:
    root = Path(tempfile.mkdtemp(dir=parent, prefix="bench-fsync-"))
    try:
        storage = storage_class(location=root)
        staging = root / ".staging"
        staging.mkdir()
        payloads = [os.urandom(size_bytes) for _ in range(files)]
        started = time.perf_counter()
        for index, data in enumerate(payloads):
            sha256 = hashlib.sha256(data).hexdigest()
            staged = staging / f"{index}.wav"
            staged.write_bytes(data)
            if durable:
                fsync_path(staged)
            content = StagedContent(StagedFile(path=staged, sha256=sha256, size_bytes=size_bytes))
            try:
                storage.save(f"recordings/1/{sha256[:2]}/{sha256}.wav", content)
            finally:
                content.close()
        return time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size-bytes", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("var"), help="a folder on the disk to measure")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.files} files x {args.size_bytes:,} bytes in {args.dir.resolve()}; load {os.getloadavg()[0]:.1f}")
    for _ in range(2):
        for name, storage_class, durable in (("plain FileSystemStorage", FileSystemStorage, False),
                                             ("DurableFileSystemStorage", DurableFileSystemStorage, True)):
            seconds = store_all(storage_class, durable=durable, files=args.files, size_bytes=args.size_bytes,
                                parent=args.dir)
            print(f"{name:26s} {seconds:7.2f} s  ({seconds / args.files * 1000:.1f} ms per file)")


if __name__ == "__main__":
    main()
