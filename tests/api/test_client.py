"""The command-line client (`python -m batsite.client upload`): against a live server, interrupted and
resumed; and its pieces on their own."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from batsite import client
from surveys.models import Recording
from tests.api.conftest import sha256, wav_bytes

REPO_ROOT = Path(settings.BASE_DIR)
N_FILES = 10


def _card(folder: Path, count: int = N_FILES) -> dict[str, bytes]:
    """A detector's card: WAVs in two folders, one copied twice, plus macOS litter."""
    contents = {}
    for night in ("night1", "night2"):
        (folder / night).mkdir(parents=True)
    for index in range(count):
        sub = folder / ("night1" if index < count // 2 else "night2")
        content = wav_bytes(seed=1000 + index)
        (sub / f"REC_{index:03d}.wav").write_bytes(content)
        contents[f"REC_{index:03d}.wav"] = content
    (folder / "night1" / "copy of REC_000.WAV").write_bytes(contents["REC_000.wav"])
    (folder / "night1" / "._REC_000.wav").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (folder / ".DS_Store").write_bytes(b"junk")
    return contents


def _command(visit_id: int, folder: Path, url: str, token: str) -> list[str]:
    return [sys.executable, "-m", "batsite.client", "upload", "--visit", str(visit_id), str(folder),
            "--url", url, "--token", token, "--batch-files", "2"]  # fmt: skip


def _stored_files(media_root: Path) -> list[Path]:
    return [p for p in (media_root / "recordings").rglob("*") if p.is_file()]


@pytest.mark.django_db(transaction=True)
def test_upload_interrupted_halfway_resumes_and_stores_every_file_once(
    live_server, api, visit, tmp_path, media_root, monkeypatch
):
    contents = _card(tmp_path / "card")
    # The third batch reaches the server, which holds it until the client has been killed: an interruption
    # in the middle of a request, after which the server still stores what it had received whole.
    from surveys.api import routes

    real_upload = routes.recordings_upload
    calls: list[int] = []
    third_arrived, release, third_done = threading.Event(), threading.Event(), threading.Event()

    def held_upload(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            third_arrived.set()
            release.wait(60)
        try:
            return real_upload(**kwargs)
        finally:
            if len(calls) == 3:
                third_done.set()

    monkeypatch.setattr(routes, "recordings_upload", held_upload)
    command = _command(visit.pk, tmp_path / "card", live_server.url, api.key)

    first = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert third_arrived.wait(120), "the client never sent its third batch"
    finally:
        first.kill()
        output, _ = first.communicate(timeout=30)
    assert "1 copies of other files here, 10 to upload" in output
    assert "[2/10]" in output and "[4/10]" in output and "[6/10]" not in output
    release.set()
    assert third_done.wait(60)
    assert Recording.objects.count() == 6  # two whole batches, and the one the server got before the kill

    second = subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "11 files: 7 already on the server, 4 to upload" in second.stdout  # 6 + the copy of one of them
    assert "done: 4 stored" in second.stdout

    recordings = Recording.objects.filter(visit=visit)
    assert recordings.count() == N_FILES
    assert sorted(recordings.values_list("sha256", flat=True)) == sorted(sha256(c) for c in contents.values())
    assert len(_stored_files(media_root)) == N_FILES  # every file stored once, nothing half-saved

    third = subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert third.returncode == 0 and "11 files: 11 already on the server, 0 to upload" in third.stdout
    assert Recording.objects.count() == N_FILES


@pytest.mark.django_db(transaction=True)
def test_client_with_a_bad_token_stops_with_status_2_and_the_servers_message(
    live_server, visit, tmp_path, capsys
):
    _card(tmp_path / "card", count=1)
    status = client.main(["upload", "--visit", str(visit.pk), str(tmp_path / "card"), "--url", live_server.url,
                          "--token", "bst_wrong"], out=io.StringIO())  # fmt: skip
    assert status == client.EXIT_FAILED
    assert "401" in capsys.readouterr().err
    assert not Recording.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_client_reports_rejected_files_and_exits_1(live_server, api, visit, tmp_path):
    folder = tmp_path / "card"
    folder.mkdir()
    (folder / "good.wav").write_bytes(wav_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    out = io.StringIO()
    status = client.main(["upload", "--visit", str(visit.pk), str(folder), "--url", live_server.url + "/api/v1/",
                          "--token", api.key], out=out)  # fmt: skip
    assert status == client.EXIT_REJECTED
    assert "done: 1 stored" in out.getvalue() and "rejected broken.wav" in out.getvalue()
    assert Recording.objects.count() == 1


# --------------------------------------------------------------------------------------------- pieces


def test_finds_wavs_in_order_with_their_sidecars_and_skips_mac_litter(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.WAV", "b/2.xml", "a.wav", "._a.wav", "notes.txt", "b/1.wav"):
        (tmp_path / name).write_bytes(b"x")
    found = [(str(p.relative_to(tmp_path)), s and str(s.relative_to(tmp_path))) for p, s in
             client.find_recordings(tmp_path)]  # fmt: skip
    assert found == [("a.wav", None), ("b/1.wav", None), ("b/2.WAV", "b/2.xml")]


def test_batches_hold_at_most_n_files_and_m_bytes_and_a_large_file_goes_alone():
    def item(size: int) -> client.LocalFile:
        return client.LocalFile(path=Path("x"), sha256="0" * 64, size_bytes=size)

    sizes = [[f.size_bytes for f in batch] for batch in
             client.batches([item(10), item(10), item(10), item(500), item(10)], max_files=2, max_bytes=100)]  # fmt: skip
    assert sizes == [[10, 10], [10], [500], [10]]


def test_multipart_body_streams_exactly_its_declared_length(tmp_path):
    wav = tmp_path / "a.wav"
    wav.write_bytes(os.urandom(3_000_000))
    body = client.MultipartBody([("sha256", "ab" * 32)], [("files", wav)])
    data = b"".join(iter(lambda: body.read(65536), b""))
    assert len(data) == body.length
    assert data.endswith(f"--{body.boundary}--\r\n".encode())
    assert b'name="files"; filename="a.wav"' in data


def test_without_url_or_token_the_client_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BATSITE_URL", raising=False)
    monkeypatch.delenv("BATSITE_TOKEN", raising=False)
    assert client.main(["upload", "--visit", "1", str(tmp_path)]) == client.EXIT_FAILED
    assert "--url and --token" in capsys.readouterr().err


@pytest.fixture
def moved_server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A server that moved: every request is answered 301 to the same path under /moved (as an http://
    address answers when the site redirects to https://); it notes each request it gets."""
    seen: list[tuple[str, str]] = []

    class Moved(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if self.path.startswith("/moved/"):
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code": "not_found", "message": "not here", "field": null}')
                return
            self.send_response(301)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/moved{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Moved)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_not_followed_and_the_client_names_the_address_to_use(moved_server, tmp_path, capsys):
    # Followed, urllib would turn the upload's POST into a GET without the files, and carry the token along.
    url, seen = moved_server
    _card(tmp_path / "card", count=1)
    status = client.main(["upload", "--visit", "7", str(tmp_path / "card"), "--url", url, "--token", "bst_x"],
                         out=io.StringIO())  # fmt: skip
    assert status == client.EXIT_FAILED
    error = capsys.readouterr().err
    assert f"redirects {url}/api/v1/visits/7 to {url}/moved/api/v1/visits/7 (301)" in error
    assert f"Run again with --url {url}/moved" in error
    assert seen == [("GET", "/api/v1/visits/7")]  # nothing went to the new address


def test_a_redirected_upload_is_refused_not_sent_again_as_a_get(moved_server, tmp_path):
    url, seen = moved_server
    wav, content = tmp_path / "a.wav", wav_bytes()
    wav.write_bytes(content)
    item = client.LocalFile(path=wav, sha256=sha256(content), size_bytes=len(content))
    with pytest.raises(client.ClientError, match=r"Run again with --url .*/moved$"):
        client.Api(base_url=url, token="bst_x").upload(7, [item])
    assert seen == [("POST", "/api/v1/visits/7/recordings")]
