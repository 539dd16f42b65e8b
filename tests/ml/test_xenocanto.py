"""ml.xenocanto against a Xeno-Canto API v3 stand-in on 127.0.0.1 serving real stored records and small WAVs.

The records are the real API answers in ../shared/data/xeno-canto: the seven v3 records as stored, and v2
records converted to v3 spelling (`group` -> `grp`, `lng` -> `lon`). Their `file` URLs are pointed at the
local server, which answers downloads with small WAVs at each record's sample rate. Attribution: the
recordists named in each record, via xeno-canto.org (licences as in each record's `lic`).

`FakeXenoCanto` is also used by tests/classifier/test_xenocanto_*.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from ml import xenocanto
from ml.dataset import read_dataset
from ml.xenocanto import (
    ApiError,
    ClientConfig,
    ImportConfig,
    InvalidKeyError,
    MissingKeyError,
    NetworkError,
    QueryError,
    XenoCantoClient,
    XenoCantoRecord,
    build_query,
    import_recordings,
    normalise_query,
    parse_licence,
    redact,
)

SHARED_XC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "xeno-canto"
KEY = "test-key-7f3a9c"
MISSING_KEY_BODY = {
    "error": "client_error",
    "message": "Missing or invalid 'key' parameter. Visit https://xeno-canto.org/account to retrieve your API key.",
}


# ------------------------------------------------------------------------------------------ real records


def v3_records() -> list[dict[str, Any]]:
    """The seven real API v3 records, as stored."""
    folder = SHARED_XC / "api-v3-records"
    if not folder.is_dir():
        pytest.fail(f"real Xeno-Canto records not found at {folder} (../shared/data beside the repository)")
    return [json.loads(p.read_text()) for p in sorted(folder.glob("XC*.json"))]


def v2_records_as_v3(page: int = 1) -> list[dict[str, Any]]:
    """Real v2 records (page 1, 2 or 3) in v3 spelling: grp for group, lon for lng, no bird-seen."""
    data = json.loads((SHARED_XC / "api-v2" / f"page{page}.json").read_text())
    out = []
    for record in data["recordings"]:
        record = dict(record)
        record["grp"] = record.pop("group")
        record["lon"] = record.pop("lng")
        record.pop("bird-seen", None)
        out.append(record)
    return out


def dutch_full_spectrum() -> list[dict[str, Any]]:
    """The real v2 records from the Netherlands at 200 kHz or more (455 of them), in v3 spelling."""
    records = v2_records_as_v3(1) + v2_records_as_v3(2) + v2_records_as_v3(3)
    return [r for r in records if r["cnt"] == "Netherlands" and int(r["smp"] or 0) >= 200_000]


def by_id(records: list[dict[str, Any]], *ids: str) -> list[dict[str, Any]]:
    index = {r["id"]: r for r in records}
    return [index[i] for i in ids]


def small_wav(sample_rate_hz: int, *, duration_s: float = 0.02, seed: int = 0) -> bytes:
    """A short 40 kHz tone (or a quarter of the rate, if lower) with a little noise, as 16-bit WAV."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    tone = 0.3 * np.sin(2 * np.pi * min(40_000.0, sample_rate_hz / 4) * t) + 0.01 * rng.standard_normal(
        t.size
    )
    buffer = io.BytesIO()
    sf.write(buffer, tone.astype(np.float32), sample_rate_hz, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ the server


@dataclass
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeXenoCanto:
    """An API v3 stand-in: paging, the documented 401, scripted failures, slow answers and cut downloads.

    records: v3 dicts (their `file` is rewritten to this server); wavs: id -> bytes served for downloads
    (default: a small WAV at the record's `smp`, or 256 kHz). Scripts, consumed in order:
    api_failures (statuses for the next API requests), api_delays_s (seconds to wait before the next API
    answers), cut_downloads (ids whose next download is cut after half the bytes), download_failures
    (id -> status for every download of it). `requests` logs every request (key included, for the tests).
    """

    key: str = KEY
    records: list[dict[str, Any]] = field(default_factory=list)
    wavs: dict[str, bytes] = field(default_factory=dict)
    api_failures: list[int] = field(default_factory=list)
    api_delays_s: list[float] = field(default_factory=list)
    cut_downloads: set[str] = field(default_factory=set)
    download_failures: dict[str, int] = field(default_factory=dict)
    fail_pages_from: int | None = None  # every API request for this page or later answers 500
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/3/recordings"

    def serve(self, records: list[dict[str, Any]]) -> FakeXenoCanto:
        self.records = [dict(r, file=f"{self.url}/{r['id']}/download") for r in records]
        return self

    def wav_for(self, xc_id: str) -> bytes:
        if xc_id not in self.wavs:
            record = next(r for r in self.records if r["id"] == xc_id)
            rate = int(record.get("smp") or 256_000)
            self.wavs[xc_id] = small_wav(rate, seed=int(xc_id) % 1000)
        return self.wavs[xc_id]

    def api_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/api/")]

    def download_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/download")]


def _handler(state: FakeXenoCanto) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: object) -> None:  # quiet: pytest shows failures, not access logs
            pass

        def _json(self, status: int, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parts.query))
            state.requests.append(Request(parts.path, params, dict(self.headers)))
            if parts.path == "/api/3/recordings":
                self._api(params)
            elif parts.path.endswith("/download"):
                self._download(parts.path.split("/")[1])
            else:
                self._json(404, {"error": "not_found", "message": "no such page"})

        def _api(self, params: dict[str, str]) -> None:
            if state.api_delays_s:
                time.sleep(state.api_delays_s.pop(0))
            if params.get("key") != state.key:
                return self._json(401, MISSING_KEY_BODY)
            if not params.get("query"):
                return self._json(
                    400, {"error": {"code": "missing_parameter", "message": "no query specified"}}
                )
            if state.api_failures:
                return self._json(
                    state.api_failures.pop(0), {"error": "server_error", "message": "try later"}
                )
            per_page = int(params.get("per_page", 100))
            page = int(params.get("page", 1))
            if state.fail_pages_from is not None and page >= state.fail_pages_from:
                return self._json(500, {"error": "server_error", "message": "internal error"})
            num_pages = max(1, math.ceil(len(state.records) / per_page))
            chunk = state.records[(page - 1) * per_page : page * per_page]
            species = {(r["gen"], r["sp"]) for r in state.records}
            self._json(200, {"numRecordings": str(len(state.records)), "numSpecies": str(len(species)),
                             "page": page, "numPages": num_pages, "recordings": chunk})  # fmt: skip

        def _download(self, xc_id: str) -> None:
            if xc_id in state.download_failures:
                return self._json(state.download_failures[xc_id], {"error": "gone", "message": "no file"})
            if not any(r["id"] == xc_id for r in state.records):
                return self._json(404, {"error": "not_found", "message": "no such recording"})
            body = state.wav_for(xc_id)
            start = 0
            range_header = self.headers.get("Range", "")
            if range_header.startswith("bytes="):
                start = int(range_header[len("bytes=") :].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(body) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            if xc_id in state.cut_downloads:
                state.cut_downloads.discard(xc_id)
                self.wfile.write(body[start : start + (len(body) - start) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
                return
            self.wfile.write(body[start:])

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out leaves a broken pipe behind: expected here


@pytest.fixture
def xc_server() -> Iterator[FakeXenoCanto]:
    state = FakeXenoCanto()
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Sleeps:
    """Stands in for time.sleep: records the waits instead of waiting."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_for(
    server: FakeXenoCanto, *, key: str = KEY, sleeps: Sleeps | None = None, **config: Any
) -> XenoCantoClient:
    settings = {"base_url": server.api_url, "min_interval_s": 0.0, "per_page": 50, "timeout_s": 5.0,
                "backoff_initial_s": 1.0, **config}  # fmt: skip
    return XenoCantoClient(key, ClientConfig(**settings), sleep=sleeps or Sleeps())


# ------------------------------------------------------------------------------------------ parsing


def test_v3_record_keeps_licence_recordist_url_id_and_attribution() -> None:
    record = XenoCantoRecord.from_api(by_id(v3_records(), "928094")[0])

    assert record.catalogue_number == "XC928094"
    assert record.recordist == "Marten Talsma"
    assert record.url == "https://xeno-canto.org/928094"
    assert record.licence.spdx == "CC-BY-NC-ND-4.0"
    assert record.attribution == "Marten Talsma, XC928094. Accessible at www.xeno-canto.org/928094"
    assert record.species_label == "Myotis dasycneme"
    assert record.call_types == ("echolocation", "feeding_buzz")  # several sound types, all kept
    assert record.sample_rate_hz == 256_000


def test_v2_and_v3_spellings_give_the_same_record() -> None:
    raw_v2 = json.loads((SHARED_XC / "api-v2" / "page1.json").read_text())["recordings"][0]
    converted = next(r for r in v2_records_as_v3() if r["id"] == raw_v2["id"])

    from_v2, from_v3 = XenoCantoRecord.from_api(raw_v2), XenoCantoRecord.from_api(converted)

    assert from_v2 == from_v3
    assert from_v2.group == "bats" and from_v2.longitude == pytest.approx(float(raw_v2["lng"]))


@pytest.mark.parametrize(
    ("url", "spdx", "commercial"),
    [
        ("//creativecommons.org/licenses/by-nc-sa/4.0/", "CC-BY-NC-SA-4.0", False),
        ("https://creativecommons.org/licenses/by-sa/4.0/", "CC-BY-SA-4.0", True),
        ("//creativecommons.org/licenses/by-nc-sa/3.0/de/", "CC-BY-NC-SA-3.0-DE", False),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", True),
    ],
)
def test_licence_urls_become_spdx_ids(url: str, spdx: str, commercial: bool) -> None:
    licence = parse_licence(url)

    assert licence.spdx == spdx
    assert licence.allows_commercial_use is commercial


def test_query_without_tags_is_refused_and_a_group_is_added_when_missing() -> None:
    with pytest.raises(QueryError, match="tagged"):
        normalise_query("Pipistrellus pipistrellus")

    assert normalise_query("  cnt:netherlands   q:A ") == "grp:bats cnt:netherlands q:A"
    assert normalise_query("grp:bats sp:nattereri") == "grp:bats sp:nattereri"


def test_build_query_quotes_values_with_spaces_and_operators() -> None:
    query = build_query(
        genus="Myotis", sound_type="social call", sample_rate=">200000", country="netherlands"
    )

    assert query == 'grp:bats gen:Myotis cnt:netherlands type:"social call" smp:">200000"'


def test_redact_hides_the_key_in_urls_and_text() -> None:
    url = f"https://xeno-canto.org/api/3/recordings?query=grp%3Abats&key={KEY}&page=2"

    assert KEY not in redact(url)
    assert "key=***" in redact(url)
    assert KEY not in redact(f"refused {KEY}", KEY)


# ------------------------------------------------------------------------------------------ search


def test_paging_walks_every_page_and_reads_counts_given_as_strings(xc_server: FakeXenoCanto) -> None:
    xc_server.serve(v2_records_as_v3(3)[:120])
    client = client_for(xc_server, per_page=50)

    seen = list(client.records("grp:bats q:A"))

    assert [r.xc_id for _, r in seen] == [r["id"] for r in xc_server.records]
    assert [r.params["page"] for r in xc_server.api_requests()] == ["1", "2", "3"]
    first_page = seen[0][0]
    assert (first_page.num_recordings, first_page.num_pages) == (120, 3)
    assert all(
        r.params["per_page"] == "50" and r.params["query"] == "grp:bats q:A" for r in xc_server.api_requests()
    )


def test_missing_key_is_a_clear_error_before_any_request(xc_server: FakeXenoCanto) -> None:
    with pytest.raises(MissingKeyError, match="XENO_CANTO_API_KEY"):
        client_for(xc_server.serve(v3_records()), key="")

    assert xc_server.requests == []


def test_bad_key_gets_the_documented_401_as_an_invalid_key_error(xc_server: FakeXenoCanto) -> None:
    client = client_for(xc_server.serve(v3_records()), key="not-the-key-91b2")

    with pytest.raises(InvalidKeyError) as raised:
        client.search("grp:bats")

    assert "Missing or invalid 'key' parameter" in str(raised.value)
    assert "not-the-key-91b2" not in str(raised.value)
    assert len(xc_server.api_requests()) == 1  # a refused key is not retried


def test_server_error_then_success_is_retried_after_a_back_off(xc_server: FakeXenoCanto) -> None:
    xc_server.serve(v3_records()).api_failures = [503, 502]
    sleeps = Sleeps()

    page = client_for(xc_server, sleeps=sleeps, backoff_initial_s=1.5).search("grp:bats")

    assert len(page.recordings) == 7
    assert sleeps.waits == [1.5, 3.0]  # exponential
    assert len(xc_server.api_requests()) == 3


def test_server_errors_that_persist_give_an_api_error_after_the_last_attempt(
    xc_server: FakeXenoCanto,
) -> None:
    xc_server.serve(v3_records()).api_failures = [500] * 10

    with pytest.raises(ApiError) as raised:
        client_for(xc_server, max_attempts=3).search("grp:bats")

    assert raised.value.status == 500
    assert len(xc_server.api_requests()) == 3
    assert KEY not in str(raised.value)


def test_a_slow_answer_times_out_and_the_request_is_tried_again(xc_server: FakeXenoCanto) -> None:
    xc_server.serve(v3_records()).api_delays_s = [1.5]
    sleeps = Sleeps()
    client = client_for(xc_server, sleeps=sleeps, timeout_s=0.3)

    page = client.search("grp:bats")

    assert len(page.recordings) == 7
    assert len(sleeps.waits) == 1  # one back-off, after the timeout
    assert len(xc_server.api_requests()) == 2


def test_no_server_at_all_gives_a_network_error_without_the_key(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = XenoCantoClient(KEY, ClientConfig(base_url=f"http://127.0.0.1:{port}/api/3/recordings",
                                               min_interval_s=0.0, max_attempts=2), sleep=Sleeps())  # fmt: skip

    with pytest.raises(NetworkError, match="no answer from Xeno-Canto after 2 tries") as raised:
        client.search("grp:bats")

    assert KEY not in str(raised.value)


def test_requests_are_spaced_by_the_minimum_interval(xc_server: FakeXenoCanto) -> None:
    xc_server.serve(v2_records_as_v3(3)[:120])
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    client = XenoCantoClient(KEY, ClientConfig(base_url=xc_server.api_url, per_page=50, min_interval_s=1.0),
                             sleep=sleep, clock=lambda: now[0])  # fmt: skip

    list(client.records("grp:bats"))

    assert sleeps == [1.0, 1.0]  # three pages, two waits of a full second (the fake clock never moves itself)


def test_the_key_never_reaches_the_log(
    xc_server: FakeXenoCanto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    xc_server.serve(by_id(v3_records(), "838798", "928094")).api_failures = [503]
    xc_server.cut_downloads = {"838798"}
    caplog.set_level(logging.DEBUG, logger="ml.xenocanto")

    import_recordings(client_for(xc_server), "grp:bats", tmp_path / "xc")

    assert caplog.records  # retries and downloads were logged ...
    assert all(KEY not in record.getMessage() for record in caplog.records)  # ... without the key


# ------------------------------------------------------------------------------------------ download


def test_an_interrupted_download_resumes_with_a_range_request(
    xc_server: FakeXenoCanto, tmp_path: Path
) -> None:
    xc_server.serve(by_id(v3_records(), "838798"))
    xc_server.cut_downloads = {"838798"}
    expected = xc_server.wav_for("838798")

    result = client_for(xc_server).download(f"{xc_server.url}/838798/download", tmp_path / "XC838798.wav")

    assert result.path.read_bytes() == expected
    assert result.sha256 == hashlib.sha256(expected).hexdigest()
    first, second = xc_server.download_requests()
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={len(expected) // 2}-"
    assert second.params["key"] == KEY  # downloads carry the key (same host)
    assert not (tmp_path / "XC838798.wav.part").exists()


def test_a_part_file_left_by_an_earlier_run_is_continued(xc_server: FakeXenoCanto, tmp_path: Path) -> None:
    xc_server.serve(by_id(v3_records(), "838798"))
    expected = xc_server.wav_for("838798")
    (tmp_path / "XC838798.wav.part").write_bytes(expected[:1000])

    result = client_for(xc_server).download(f"{xc_server.url}/838798/download", tmp_path / "XC838798.wav")

    assert result.path.read_bytes() == expected
    assert result.resumed_from_bytes == 1000
    assert [r.headers.get("Range") for r in xc_server.download_requests()] == ["bytes=1000-"]


def test_a_file_already_there_is_not_fetched_again(xc_server: FakeXenoCanto, tmp_path: Path) -> None:
    xc_server.serve(by_id(v3_records(), "838798"))
    target = tmp_path / "XC838798.wav"
    target.write_bytes(b"already here")

    result = client_for(xc_server).download(f"{xc_server.url}/838798/download", target)

    assert result.already_there
    assert result.sha256 == hashlib.sha256(b"already here").hexdigest()
    assert xc_server.download_requests() == []


# ------------------------------------------------------------------------------------------ import


def mixed_records() -> list[dict[str, Any]]:
    """Real records covering what an import must sort out: European species with one and with several
    sound types, non-European species, 48 kHz uploads, an 'uncertain' type, several licences."""
    v2 = v2_records_as_v3(1) + v2_records_as_v3(2) + v2_records_as_v3(3)
    by_sa = [
        r
        for r in v2
        if r["lic"].endswith("/by-sa/4.0/") and r["gen"] in ("Pipistrellus", "Myotis", "Nyctalus")
    ]
    return v3_records() + by_sa[:2]


def test_import_writes_a_dataset_folder_with_licences_and_attribution(
    xc_server: FakeXenoCanto, tmp_path: Path
) -> None:
    xc_server.serve(mixed_records())
    folder = tmp_path / "xc"

    result = import_recordings(client_for(xc_server), "grp:bats", folder)

    files = {f.extra["xc_id"]: f for f in read_dataset(folder)}
    assert set(files) == {r.record.catalogue_number for r in result.imported}
    dasycneme = files["XC928094"]
    assert dasycneme.species == "Myotis dasycneme"
    assert dasycneme.call_types == ("echolocation", "feeding_buzz")
    assert dasycneme.licence == "CC-BY-NC-ND-4.0"
    assert "Marten Talsma, XC928094. Accessible at www.xeno-canto.org/928094" in dasycneme.source
    assert dasycneme.extra["url"] == "https://xeno-canto.org/928094"
    assert dasycneme.extra["sha256"] == hashlib.sha256(dasycneme.path.read_bytes()).hexdigest()
    assert json.loads((folder / "metadata" / "XC928094.json").read_text())["record"]["rec"] == "Marten Talsma"
    assert sum(result.licences.values()) == len(result.imported)


def test_import_reports_what_it_could_not_map_or_use(xc_server: FakeXenoCanto, tmp_path: Path) -> None:
    xc_server.serve(v3_records())

    result = import_recordings(client_for(xc_server), "grp:bats", tmp_path / "xc")

    reasons = {s.xc_id: s.reason for s in result.skipped}
    # Non-European species are counted by name and skipped with a reason.
    assert result.unknown_species == {
        "Hipposideros caffer": 1,
        "Nyctimene robinsoni": 1,
        "Austronomus australis": 1,
    }
    assert reasons["XC1002572"] == "species outside the label vocabulary: Hipposideros caffer"
    assert result.unknown_sound_types == {"uncertain": 1}
    # The European ones at 192-384 kHz are imported.
    assert {r.record.catalogue_number for r in result.imported} == {
        "XC814304",
        "XC817761",
        "XC838798",
        "XC928094",
    }
    assert result.complete and result.summary()["skipped"] == 3


def test_recordings_whose_sample_rate_cannot_hold_bat_calls_are_skipped_with_a_reason(
    xc_server: FakeXenoCanto, tmp_path: Path
) -> None:
    low = by_id(v2_records_as_v3(1), "937718")[0]  # Tadarida teniotis at 44.1 kHz
    lying = dict(by_id(v3_records(), "838798")[0])  # says 256 kHz, but the file is 48 kHz
    xc_server.serve([low, lying])
    xc_server.wavs["838798"] = small_wav(48_000)

    result = import_recordings(client_for(xc_server), "grp:bats", tmp_path / "xc")

    reasons = {s.xc_id: s.reason for s in result.skipped}
    assert (
        reasons[f"XC{low['id']}"] == "sample rate too low for bat calls: 44100 Hz (needs 100000 Hz or more)"
    )
    assert "the file says 48000 Hz" in reasons["XC838798"]
    assert result.imported == ()
    assert [r.path for r in xc_server.download_requests()] == [
        "/838798/download"
    ]  # the 44.1 kHz one never fetched
    assert not (tmp_path / "xc" / "audio" / "XC838798.wav").exists()


def test_the_licence_filter_keeps_only_allowed_licences(xc_server: FakeXenoCanto, tmp_path: Path) -> None:
    xc_server.serve(mixed_records())

    result = import_recordings(client_for(xc_server), "grp:bats", tmp_path / "xc",
                               config=ImportConfig(allowed_licences=frozenset({"by", "by-sa", "by-nc-sa"})))  # fmt: skip

    assert result.imported
    assert {r.licence.code for r in result.imported} <= {"by", "by-sa", "by-nc-sa"}
    assert "XC928094" in {
        s.xc_id for s in result.skipped if s.reason == "licence not allowed: CC-BY-NC-ND-4.0"
    }


def test_the_limit_stops_the_import_without_asking_for_more_pages(
    xc_server: FakeXenoCanto, tmp_path: Path
) -> None:
    xc_server.serve(dutch_full_spectrum()[:120])

    result = import_recordings(client_for(xc_server), "grp:bats cnt:netherlands", tmp_path / "xc", limit=3)

    assert len(result.imported) == 3 and result.complete
    assert len(xc_server.api_requests()) == 1
    assert len(read_dataset(tmp_path / "xc")) == 3


def test_an_import_stopped_by_an_api_error_keeps_what_was_downloaded(
    xc_server: FakeXenoCanto, tmp_path: Path
) -> None:
    xc_server.serve(dutch_full_spectrum()[:60])  # two pages of 50; the second one fails
    xc_server.fail_pages_from = 2
    folder = tmp_path / "xc"

    with pytest.raises(ApiError) as raised:
        import_recordings(client_for(xc_server, max_attempts=2), "grp:bats cnt:netherlands", folder)

    partial = raised.value.partial
    assert partial is not None and not partial.complete
    assert len(partial.imported) == 50
    assert len(read_dataset(folder)) == 50  # labels.csv written for what arrived
    assert all((folder / r.relative_path).is_file() for r in partial.imported)


def test_a_second_import_uses_the_files_already_there(xc_server: FakeXenoCanto, tmp_path: Path) -> None:
    xc_server.serve(v3_records())
    folder = tmp_path / "xc"
    first = import_recordings(client_for(xc_server), "grp:bats", folder)
    downloads_before = len(xc_server.download_requests())

    second = import_recordings(client_for(xc_server), "grp:bats", folder)

    assert len(xc_server.download_requests()) == downloads_before
    assert second.downloaded == 0
    assert [r.sha256 for r in second.imported] == [r.sha256 for r in first.imported]
    assert len(read_dataset(folder)) == len(first.imported)


def test_a_recording_whose_file_is_gone_is_skipped_and_the_rest_imported(
    xc_server: FakeXenoCanto, tmp_path: Path
) -> None:
    xc_server.serve(v3_records())
    xc_server.download_failures = {"838798": 404}

    result = import_recordings(client_for(xc_server), "grp:bats", tmp_path / "xc")

    reasons = {s.xc_id: s.reason for s in result.skipped}
    assert reasons["XC838798"].startswith("download failed:") and "HTTP 404" in reasons["XC838798"]
    assert KEY not in reasons["XC838798"]
    assert len(result.imported) == 3


def test_progress_and_stop_requests_are_honoured_between_recordings(
    xc_server: FakeXenoCanto, tmp_path: Path
) -> None:
    xc_server.serve(v3_records())
    reports: list[xenocanto.ImportProgress] = []

    result = import_recordings(client_for(xc_server), "grp:bats", tmp_path / "xc", progress=reports.append,
                               should_stop=lambda: len(reports) > 3)  # fmt: skip

    assert not result.complete
    assert result.seen < 7
    assert reports[-1].found == 7


def test_the_command_line_imports_with_the_key_from_the_environment(
    xc_server: FakeXenoCanto,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from ml.commands import xenocanto as command  # `python -m ml xenocanto` once ml/__main__.py lists it

    xc_server.serve(v3_records())
    monkeypatch.setenv("XENO_CANTO_API_KEY", KEY)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--query", "grp:bats", "--out", str(tmp_path / "xc"), "--base-url", xc_server.api_url,
                              "--min-interval-s", "0", "--licence", "by-nc-sa"])  # fmt: skip

    code = command.run(args)

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert summary["imported"] == 2 and summary["licences"] == {"CC-BY-NC-SA-4.0": 2}
    assert KEY not in json.dumps(summary)
