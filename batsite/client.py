"""Command-line client of the Batsite JSON API: upload a folder of recordings to a visit, and resume.

    python -m batsite.client upload --visit 12 /media/SDCARD --url https://batsite.example.org --token bst_...

(--url and --token may come from BATSITE_URL and BATSITE_TOKEN instead; make a token on your profile page.)

What it does:
1. finds the WAV files under the folder (and Batlogger XML sidecars beside them), skipping macOS litter;
2. hashes each file (SHA-256) and asks the server which of them the visit's project already holds;
3. uploads the rest in batches (a few files or megabytes per request), printing progress after each;
4. prints what the server rejected, and why.

Interrupted (Ctrl-C, a dropped connection, a flat battery)? Run the same command again: the files the
server stored are skipped by their hash, so each file is stored once. Every file is sent with its hash and
the server refuses a file that arrived cut off, so a broken request never stores half a file.
A redirect (an http:// address of a site that moved to https://) is not followed, since a redirected upload
would arrive as a GET without its files: the client stops and names the address to use.

The standard library only: this file also runs on its own (`python3 client.py upload ...`) on a laptop
that has nothing of Batsite installed. Exit status: 0 all stored (or already there), 1 some files were
rejected, 2 the upload could not be done (bad token, unknown visit, server unreachable), 130 interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

LOOKUP_BATCH = 1000  # the server's limit per lookup request
HASH_CHUNK_BYTES = 1024 * 1024
DEFAULT_BATCH_FILES = 10
DEFAULT_BATCH_MB = 100
RETRIES = 3  # per batch, on network errors and 5xx answers; safe because the server deduplicates
RETRY_WAIT_S = 2.0
TIMEOUT_S = 600.0  # one batch of up to ~100 MB over a slow field connection
EXIT_OK, EXIT_REJECTED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 130
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


class ClientError(Exception):
    """The upload cannot go on (the message says why and what to do)."""


@dataclass(frozen=True)
class LocalFile:
    path: Path
    sha256: str
    size_bytes: int
    sidecar: Path | None = None  # a Batlogger XML beside the WAV, sent in the same request


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # already on the server before this run
    copies: int = 0  # the same content twice in the folder: sent once
    accepted: int = 0
    duplicate: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- files


def find_recordings(folder: Path) -> list[tuple[Path, Path | None]]:
    """WAV files under `folder` (sorted, so every run sends them in the same order), each with the
    Batlogger XML of the same name beside it, if any."""
    wavs: list[tuple[Path, Path | None]] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__MACOSX" and not d.startswith("."))
        by_lower = {name.lower(): name for name in names}
        for name in sorted(names):
            if name.startswith("._") or name.lower() in _JUNK_NAMES or not name.lower().endswith(".wav"):
                continue
            xml = by_lower.get(name[:-4].lower() + ".xml")
            wavs.append((Path(root) / name, Path(root) / xml if xml else None))
    return wavs


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(found: Sequence[tuple[Path, Path | None]], *, out: TextIO) -> list[LocalFile]:
    files = []
    for index, (path, sidecar) in enumerate(found, start=1):
        files.append(
            LocalFile(path=path, sha256=sha256_of(path), size_bytes=path.stat().st_size, sidecar=sidecar)
        )
        if index % 50 == 0 or index == len(found):
            print(f"hashed {index}/{len(found)} files", file=out, flush=True)
    return files


def batches(files: Sequence[LocalFile], *, max_files: int, max_bytes: int) -> Iterator[list[LocalFile]]:
    """Consecutive groups of at most `max_files` files and `max_bytes` bytes (a larger file goes alone)."""
    batch: list[LocalFile] = []
    size = 0
    for item in files:
        if batch and (len(batch) >= max_files or size + item.size_bytes > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size_bytes
    if batch:
        yield batch


# --------------------------------------------------------------------------------------------- HTTP


class MultipartBody(io.RawIOBase):
    """A multipart/form-data body read straight from the files on disk, with its length known up front
    (so a batch of large recordings is never held in memory)."""

    def __init__(self, fields: Iterable[tuple[str, str]], files: Iterable[tuple[str, Path]]) -> None:
        super().__init__()
        self.boundary = f"batsite-{uuid.uuid4().hex}"
        self._parts: list[bytes | Path] = []
        for name, value in fields:
            self._parts.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for name, path in files:
            filename = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
            self._parts.append(
                (
                    f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode()
            )
            self._parts.append(path)
            self._parts.append(b"\r\n")
        self._parts.append(f"--{self.boundary}--\r\n".encode())
        self.length = sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in self._parts)
        self._index = 0
        self._current: BinaryIO | None = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = HASH_CHUNK_BYTES if size is None or size < 0 else size
        while self._index < len(self._parts):
            part = self._parts[self._index]
            if isinstance(part, bytes):
                self._index += 1
                return part
            if self._current is None:
                self._current = open(part, "rb")
            chunk = self._current.read(size)
            if chunk:
                return chunk
            self._current.close()
            self._current = None
            self._index += 1
        return b""

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are answered, not followed: urllib would turn a redirected POST (an upload, a lookup) into
    a GET without its body, and would carry the token to wherever the answer points. The caller tells the
    user the address to use instead (usually http:// to https://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl) -> None:
        return None  # the 3xx answer then comes back as an HTTPError


_OPENER = urllib.request.build_opener(_RefuseRedirects)


@dataclass
class Api:
    base_url: str  # e.g. https://batsite.example.org (with or without /api/v1)
    token: str
    timeout_s: float = TIMEOUT_S

    def url(self, path: str) -> str:
        base = self.base_url.rstrip("/")
        if not base.endswith("/api/v1"):
            base += "/api/v1"
        return base + path

    def call(self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer; ClientError with the server's message for 4xx, OSError for network
        trouble and 5xx (the caller may retry those)."""
        all_headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            **(headers or {}),
        }
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url(path), data=body, method=method, headers=all_headers)
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                return json.loads(response.read().decode("utf-8") or "null")
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise ClientError(_redirect_message(self.url(path), exc)) from exc
            detail = _error_message(exc)
            if exc.code >= 500:
                raise OSError(f"server error {exc.code}: {detail}") from exc
            raise ClientError(f"{method} {path} answered {exc.code}: {detail}") from exc

    def upload(self, visit_id: int, batch: Sequence[LocalFile]) -> dict[str, Any]:
        # One sha256 field per file, in the files' order: the server refuses any file that arrived cut off.
        files: list[tuple[str, Path]] = []
        hashes: list[tuple[str, str]] = []
        for item in batch:
            files.append(("files", item.path))
            hashes.append(("sha256", item.sha256))
            if item.sidecar is not None:  # a Batlogger XML travels with its WAV
                files.append(("files", item.sidecar))
                hashes.append(("sha256", sha256_of(item.sidecar)))
        body = MultipartBody(hashes, files)
        try:
            return self.call(
                "POST",
                f"/visits/{visit_id}/recordings",
                body=body,
                headers={"Content-Type": body.content_type, "Content-Length": str(body.length)},
            )
        finally:
            body.close()


def _redirect_message(url: str, exc: urllib.error.HTTPError) -> str:
    location = urllib.parse.urljoin(url, exc.headers.get("Location", "") if exc.headers else "")
    if location == url:
        return f"the server answered {url} with a redirect ({exc.code}) but named no new address"
    # The address to give as --url: the new location without the API path that was asked for.
    path = urllib.parse.urlsplit(url).path
    suffix = path[path.find("/api/v1") :] if "/api/v1" in path else ""
    base = location[: -len(suffix)] if suffix and location.endswith(suffix) else location
    return (
        f"the server redirects {url} to {location} ({exc.code}); nothing was sent there. "
        f"Run again with --url {base}"
    )


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read().decode("utf-8"))
        return str(payload.get("message") or payload)
    except (ValueError, AttributeError, OSError):
        return exc.reason if isinstance(exc.reason, str) else str(exc)


def _with_retries(action, *, what: str, out: TextIO, retries: int = RETRIES, wait_s: float = RETRY_WAIT_S):
    for attempt in range(1, retries + 1):
        try:
            return action()
        except OSError as exc:  # URLError, connection reset, timeouts and 5xx
            if attempt == retries:
                raise ClientError(
                    f"{what} failed {retries} times ({exc}); run the command again to resume"
                ) from exc
            print(f"{what} failed ({exc}); trying again in {wait_s * attempt:.0f} s", file=out, flush=True)
            time.sleep(wait_s * attempt)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------- upload


def known_hashes(api: Api, project_id: int, hashes: Sequence[str], *, out: TextIO) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(hashes), LOOKUP_BATCH):
        chunk = list(hashes[start : start + LOOKUP_BATCH])
        answer = _with_retries(
            lambda chunk=chunk: api.call(
                "POST", f"/projects/{project_id}/recordings/lookup", body={"sha256": chunk}
            ),
            what="asking which files the server has",
            out=out,
        )
        known.update(item["sha256"] for item in answer["known"])
    return known


def upload_folder(
    api: Api,
    *,
    visit_id: int,
    folder: Path,
    batch_files: int = DEFAULT_BATCH_FILES,
    batch_mb: float = DEFAULT_BATCH_MB,
    out: TextIO = sys.stdout,
) -> Summary:
    if not folder.is_dir():
        raise ClientError(f"{folder} is not a folder")
    visit = _with_retries(lambda: api.call("GET", f"/visits/{visit_id}"), what="reading the visit", out=out)
    found = find_recordings(folder)
    summary = Summary(total=len(found))
    if not found:
        print(f"no WAV files under {folder}", file=out, flush=True)
        return summary
    files = hash_files(found, out=out)
    known = known_hashes(api, visit["project_id"], [f.sha256 for f in files], out=out)
    # A folder can hold the same recording twice (a copied card): send its content once.
    to_send: list[LocalFile] = []
    queued: set[str] = set()
    for item in files:
        if item.sha256 in known:
            summary.skipped += 1
        elif item.sha256 in queued:
            summary.copies += 1
        else:
            queued.add(item.sha256)
            to_send.append(item)
    total_bytes = sum(f.size_bytes for f in to_send)
    print(
        f"{len(files)} files: {summary.skipped} already on the server, "
        + (f"{summary.copies} copies of other files here, " if summary.copies else "")
        + f"{len(to_send)} to upload "
        f"({total_bytes / 1e6:.1f} MB) to visit {visit_id}",
        file=out,
        flush=True,
    )
    sent = sent_bytes = 0
    for batch in batches(to_send, max_files=batch_files, max_bytes=int(batch_mb * 1e6)):
        answer = _with_retries(
            lambda batch=batch: api.upload(visit_id, batch), what="uploading a batch", out=out
        )
        summary.accepted += answer["accepted"]
        summary.duplicate += answer["duplicate"]
        summary.rejected += [(f["name"], f["message"]) for f in answer["files"] if f["status"] == "rejected"]
        sent += len(batch)
        sent_bytes += sum(f.size_bytes for f in batch)
        print(
            f"[{sent}/{len(to_send)}] {sent_bytes / 1e6:.1f}/{total_bytes / 1e6:.1f} MB: "
            f"{answer['accepted']} stored, {answer['duplicate']} already there, {answer['rejected']} rejected",
            file=out,
            flush=True,
        )
    return summary


def _report(summary: Summary, *, out: TextIO) -> int:
    print(
        f"done: {summary.accepted} stored, {summary.skipped + summary.duplicate} already on the server, "
        f"{len(summary.rejected)} rejected (of {summary.total} files"
        + (f", {summary.copies} of them copies" if summary.copies else "")
        + ")",
        file=out,
        flush=True,
    )
    for name, message in summary.rejected:
        print(f"  rejected {name}: {message}", file=out, flush=True)
    return EXIT_REJECTED if summary.rejected else EXIT_OK


# --------------------------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m batsite.client", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload a folder of recordings to a visit (resumable)")
    upload.add_argument("folder", type=Path, help="folder with the night's WAV files (searched recursively)")
    upload.add_argument(
        "--visit", type=int, required=True, help="id of the visit (see its page or GET /visits)"
    )
    upload.add_argument(
        "--url", default=os.environ.get("BATSITE_URL", ""), help="Batsite address (BATSITE_URL)"
    )
    upload.add_argument(
        "--token", default=os.environ.get("BATSITE_TOKEN", ""), help="API token (BATSITE_TOKEN)"
    )
    upload.add_argument("--batch-files", type=int, default=DEFAULT_BATCH_FILES, help="files per request")
    upload.add_argument("--batch-mb", type=float, default=DEFAULT_BATCH_MB, help="megabytes per request")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    if not args.url or not args.token:
        print("error: give --url and --token (or set BATSITE_URL and BATSITE_TOKEN)", file=sys.stderr)
        return EXIT_FAILED
    api = Api(base_url=args.url, token=args.token)
    try:
        summary = upload_folder(
            api,
            visit_id=args.visit,
            folder=args.folder,
            batch_files=max(args.batch_files, 1),
            batch_mb=max(args.batch_mb, 0.001),
            out=out,
        )
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: run the same command again to upload the rest", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return _report(summary, out=out)


if __name__ == "__main__":
    sys.exit(main())
