"""Xeno-Canto client: bat recordings with their licences, from the API v3 into a dataset folder.

Place in the pipeline: Xeno-Canto API v3 -> **ml.xenocanto** -> dataset folder (ml.dataset format) -> ml.train.
Framework-free: the web app (classifier/xenocanto_import.py) and `python -m ml xenocanto` pass in the API key.

    client = XenoCantoClient(key, ClientConfig())
    result = import_recordings(client, "grp:bats cnt:netherlands", folder, limit=50,
                               config=ImportConfig(allowed_licences=frozenset({"by", "by-sa", "cc0"})))

What the API looks like (../shared/domain/bats.md, section 1): `GET /api/3/recordings?query=...&key=...&page=N
&per_page=50..500`; queries must use tags (`grp:bats gen:Myotis type:"social call" smp:">200000"`); answers
`{numRecordings: "1171" (a string), numSpecies, page, numPages, recordings: [...]}`; a missing or wrong key
answers 401 `{"error": "client_error", "message": "Missing or invalid 'key' parameter. ..."}`. Records from the
retired v2 (`group`, `lng`, protocol-relative URLs) are read too.

Being polite: at most one request per `min_interval_s` (1 s, as Xeno-Canto asks) for pages and downloads
alike; 429, 5xx, timeouts and dropped connections are retried with exponential back-off (Retry-After wins);
downloads resume from a `.part` file with an HTTP Range request; files already in the folder are not fetched
again. The key is sent but never written anywhere: every URL in a message or log line goes through `redact`.

What is kept, per recording: the file (`audio/XC<id>.<ext>`), its sha256, the licence (URL and an SPDX-style
id such as CC-BY-NC-SA-4.0), the recordist, the Xeno-Canto id and URL, and an attribution line
("<recordist>, XC<id>. Accessible at www.xeno-canto.org/<id>") in labels.csv's `source`; the full API record
goes to `metadata/XC<id>.json`. Species map onto the label vocabulary with `ml.labels.from_xeno_canto`, sound
types with `ml.labels.call_type_from_xeno_canto` (all of them, the first written first); what maps onto
nothing is counted in the result, never dropped silently. Recordings whose sample rate cannot hold bat calls,
whose licence is not allowed, or whose species is outside the vocabulary are skipped with a reason.

Errors are typed (`XenoCantoError` and subclasses) with messages a person can act on; when an import stops on
one, what was downloaded stays on disk and in labels.csv, and the error carries the partial `ImportResult`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml import labels
from ml.audio import AudioError, read_header
from ml.dataset import LABELS_FILE, DatasetError, DatasetFile, read_dataset, write_labels

__all__ = [
    "DEFAULT_BASE_URL",
    "LICENCE_CODES",
    "QUERY_TAGS",
    "ApiError",
    "ClientConfig",
    "DownloadError",
    "DownloadResult",
    "ImportConfig",
    "ImportProgress",
    "ImportResult",
    "ImportedRecording",
    "InvalidKeyError",
    "Licence",
    "MissingKeyError",
    "NetworkError",
    "QueryError",
    "SearchPage",
    "SkippedRecording",
    "XenoCantoClient",
    "XenoCantoError",
    "XenoCantoRecord",
    "build_query",
    "import_recordings",
    "normalise_query",
    "parse_licence",
    "redact",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://xeno-canto.org/api/3/recordings"
SITE = "https://xeno-canto.org"
# Xeno-Canto's licence codes (`lic:` tag values), most permissive first.
LICENCE_CODES: tuple[str, ...] = ("cc0", "by", "by-sa", "by-nc", "by-nc-sa", "by-nd", "by-nc-nd")
QUERY_TAGS: frozenset[str] = frozenset(
    "grp gen sp ssp fam en cnt loc area box lat lon alt type othertype sex stage method q len year month since "
    "rec rmk nr lic seen playback auto dvc mic smp temp regnr ann ann_sp ann_type".split()
)
AUDIO_FOLDER = "audio"
METADATA_FOLDER = "metadata"
PER_PAGE_RANGE = (50, 500)  # what the API accepts
REDACTED = "***"


# --------------------------------------------------------------------------------------------- errors


class XenoCantoError(Exception):
    """Anything that stopped a request or an import; the message says what to do about it.

    `partial` is set by `import_recordings` when it stopped on this error: what was imported before it.
    """

    partial: ImportResult | None = None


class MissingKeyError(XenoCantoError):
    """No API key was given (API v3 answers every request without one with 401)."""


class InvalidKeyError(XenoCantoError):
    """Xeno-Canto refused the key (HTTP 401)."""


class QueryError(XenoCantoError, ValueError):
    """A query the API would refuse (v3 needs tags such as grp:bats)."""


class ApiError(XenoCantoError):
    """The API answered with an error status (after retries for 429 and 5xx)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class NetworkError(XenoCantoError):
    """No answer: connection refused or dropped, DNS failure, timeout (after retries)."""


class DownloadError(XenoCantoError):
    """One file could not be fetched (404, 403, a size that does not add up); the import skips it."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ClientConfig:
    """How the client talks to Xeno-Canto. Tests point `base_url` at a server on 127.0.0.1."""

    base_url: str = DEFAULT_BASE_URL
    per_page: int = 500  # 50..500; one big page is fewer requests than five small ones
    min_interval_s: float = 1.0  # between any two requests (pages, downloads, retries)
    timeout_s: float = 30.0  # connect and per-read timeout
    max_attempts: int = 5  # per request, the first try included
    backoff_initial_s: float = 2.0  # wait before the second try; doubles each time
    backoff_max_s: float = 60.0
    chunk_bytes: int = 1 << 16
    # Downloads have asked for the key since October 2025 (bats.md 1.5); it goes to the same host only.
    key_in_downloads: bool = True
    user_agent: str = "Batsite Xeno-Canto importer (ml.xenocanto)"

    def __post_init__(self) -> None:
        low, high = PER_PAGE_RANGE
        if not low <= self.per_page <= high:
            raise ValueError(f"per_page must be between {low} and {high}, not {self.per_page}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(frozen=True)
class ImportConfig:
    """Which recordings an import keeps."""

    # A recording rate under this cannot hold most bat calls (ARCHITECTURE.md, Time and sample rates).
    min_sample_rate_hz: int = 100_000
    allowed_licences: frozenset[str] | None = None  # Xeno-Canto codes (LICENCE_CODES); None = any
    # Species outside the European vocabulary (a Costa Rican Myotis) train nothing at species level; they
    # are counted and skipped unless this says keep them (they still teach the call-type head).
    keep_unmapped_species: bool = False

    def __post_init__(self) -> None:
        if self.allowed_licences is not None:
            unknown = set(self.allowed_licences) - set(LICENCE_CODES)
            if unknown:
                raise ValueError(
                    f"unknown licence code(s) {', '.join(sorted(unknown))}; use {', '.join(LICENCE_CODES)}"
                )


# --------------------------------------------------------------------------------------------- key, query


def redact(text: str, key: str = "") -> str:
    """`text` with the value of every `key=` parameter (and the key itself, wherever it appears) hidden."""
    text = re.sub(r"(?i)([?&;]key=)[^&#\s'\"]*", rf"\1{REDACTED}", text)
    if key:
        text = text.replace(key, REDACTED)
        quoted = urllib.parse.quote(key, safe="")
        if quoted != key:
            text = text.replace(quoted, REDACTED)
    return text


def _tag(name: str, value: str | int) -> str:
    text = str(value).strip()
    if re.search(r"[\s<>=\"]", text):
        text = '"' + text.replace('"', "") + '"'
    return f"{name}:{text}"


def build_query(
    *,
    group: str = "bats",
    genus: str = "",
    species: str = "",
    country: str = "",
    sound_type: str = "",
    quality: str = "",
    sample_rate: str = "",
    licence: str = "",
    **other_tags: str,
) -> str:
    """A tagged v3 query, values quoted where needed: build_query(genus="Myotis", sound_type="social call")
    gives 'grp:bats gen:Myotis type:"social call"'. `sample_rate` takes operators (">200000")."""
    tags = [
        ("grp", group), ("gen", genus), ("sp", species), ("cnt", country), ("type", sound_type),
        ("q", quality), ("smp", sample_rate), ("lic", licence), *other_tags.items(),
    ]  # fmt: skip
    unknown = [name for name, value in tags if value and name not in QUERY_TAGS]
    if unknown:
        raise QueryError(f"unknown query tag(s): {', '.join(unknown)}")
    return " ".join(_tag(name, value) for name, value in tags if str(value).strip())


_TAG_IN_TEXT = re.compile(r"(?:^|\s)([a-z_]+):")


def normalise_query(text: str) -> str:
    """The query as it will be sent: whitespace tidied, `grp:bats` added when no group is named.

    Raises QueryError for an empty query or one without any known tag (API v3 refuses untagged searches).
    """
    query = " ".join((text or "").split())
    if not query:
        raise QueryError("The query is empty. Write tags, e.g. grp:bats cnt:netherlands q:A")
    tags = set(_TAG_IN_TEXT.findall(query))
    if not tags & QUERY_TAGS:
        raise QueryError(
            f"Xeno-Canto API v3 only accepts tagged queries, and {query!r} has no known tag. "
            "Write e.g. grp:bats gen:Pipistrellus sp:pipistrellus or grp:bats cnt:netherlands."
        )
    if "grp" not in tags:
        # Bat queries without grp: can make the API answer 500 (bats.md 1.3), and we only want bats.
        query = f"grp:bats {query}"
    return query


# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Licence:
    """A Creative Commons licence as Xeno-Canto links it."""

    code: str  # Xeno-Canto code: by, by-sa, by-nc, by-nc-sa, by-nd, by-nc-nd, cc0; "" when unknown
    version: str  # "4.0"
    jurisdiction: str  # "de" for a ported licence (3.0 DE), else ""
    url: str  # https:// form

    @property
    def spdx(self) -> str:
        """SPDX-style id: CC-BY-NC-SA-4.0, CC-BY-NC-SA-3.0-DE, CC0-1.0; the URL when not a CC licence."""
        if self.code == "cc0":
            return f"CC0-{self.version or '1.0'}"
        if not self.code:
            return self.url
        spdx = f"CC-{self.code.upper()}-{self.version}" if self.version else f"CC-{self.code.upper()}"
        return f"{spdx}-{self.jurisdiction.upper()}" if self.jurisdiction else spdx

    @property
    def allows_commercial_use(self) -> bool:
        return bool(self.code) and "nc" not in self.code.split("-")

    @property
    def allows_adaptations(self) -> bool:
        return bool(self.code) and "nd" not in self.code.split("-")


def _https(url: str) -> str:
    url = (url or "").strip()
    # Older answers use protocol-relative links (//xeno-canto.org/123); an explicit scheme is kept.
    return "https:" + url if url.startswith("//") else url


def parse_licence(url: str) -> Licence:
    """The licence behind a Xeno-Canto `lic` URL (protocol-relative or not); code "" when unrecognised."""
    full = _https(url)
    path = urllib.parse.urlsplit(full).path.strip("/").lower().split("/")
    if len(path) >= 2 and path[0] == "licenses" and path[1] in LICENCE_CODES:
        version = path[2] if len(path) > 2 else ""
        jurisdiction = path[3] if len(path) > 3 else ""
        return Licence(path[1], version, jurisdiction, full)
    if len(path) >= 2 and path[0] == "publicdomain" and path[1] == "zero":
        return Licence("cc0", path[2] if len(path) > 2 else "1.0", "", full)
    return Licence("", "", "", full)


def _text(data: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if value is not None and value != "":
            return str(value).strip()
    return ""


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _integer(value: Any) -> int | None:
    """numRecordings is a string ("1171"), page an integer: both come back as int; junk as None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None


def _file_url(value: Any) -> str:
    # One client notes `file` may become an object {"url": ...} (bats.md 1.5): accept both.
    if isinstance(value, Mapping):
        value = value.get("url") or value.get("href") or ""
    return _https(str(value or ""))


@dataclass(frozen=True)
class XenoCantoRecord:
    """One recording as the API describes it (v3 spelling; v2 `group`/`lng` read too)."""

    xc_id: str  # catalogue number without "XC"
    genus: str
    epithet: str  # `sp`
    subspecies: str
    group: str  # "bats"
    english_name: str
    recordist: str
    country: str
    locality: str
    latitude: float | None
    longitude: float | None
    sound_type: str  # the `type` field as written: "echolocation, feeding buzz"
    url: str
    file_url: str
    file_name: str
    licence_url: str
    quality: str
    length: str
    date: str
    sample_rate_hz: int | None  # `smp` of the uploaded file; None when not given
    device: str
    remarks: str
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> XenoCantoRecord:
        xc_id = _text(data, "id").upper().removeprefix("XC")
        if not xc_id.isdigit():
            raise ApiError(f"a recording without a usable id in the API answer: {str(dict(data))[:200]}")
        return cls(
            xc_id=xc_id,
            genus=_text(data, "gen"),
            epithet=_text(data, "sp"),
            subspecies=_text(data, "ssp"),
            group=_text(data, "grp", "group").lower(),
            english_name=_text(data, "en"),
            recordist=_text(data, "rec"),
            country=_text(data, "cnt"),
            locality=_text(data, "loc"),
            latitude=_number(_text(data, "lat")),
            longitude=_number(_text(data, "lon", "lng")),
            sound_type=_text(data, "type"),
            url=_https(_text(data, "url")) or f"{SITE}/{xc_id}",
            file_url=_file_url(data.get("file")) or f"{SITE}/{xc_id}/download",
            file_name=_text(data, "file-name"),
            licence_url=_https(_text(data, "lic")),
            quality=_text(data, "q"),
            length=_text(data, "length"),
            date=_text(data, "date"),
            sample_rate_hz=_integer(data.get("smp")),
            device=_text(data, "dvc"),
            remarks=_text(data, "rmk"),
            raw=dict(data),
        )

    @property
    def catalogue_number(self) -> str:
        return f"XC{self.xc_id}"

    @property
    def scientific_name(self) -> str:
        return f"{self.genus} {self.epithet}".strip()

    @property
    def licence(self) -> Licence:
        return parse_licence(self.licence_url)

    @property
    def attribution(self) -> str:
        """The credit line Xeno-Canto clients use (bats.md 1.5)."""
        who = self.recordist or "unknown recordist"
        return f"{who}, {self.catalogue_number}. Accessible at www.xeno-canto.org/{self.xc_id}"

    @property
    def species_label(self) -> str:
        """The vocabulary id (a species, pair member, group or `Chiroptera sp.`): ml.labels.from_xeno_canto."""
        return labels.from_xeno_canto(self.genus, self.epithet)

    @property
    def call_types(self) -> tuple[str, ...]:
        return labels.call_type_from_xeno_canto(self.sound_type)

    @property
    def unknown_sound_types(self) -> tuple[str, ...]:
        """The parts of `type` that map onto no call type ("uncertain", "other unknown"), lower case."""
        parts = [p.strip().casefold() for p in self.sound_type.split(",")]
        return tuple(p for p in parts if p and not labels.call_type_from_xeno_canto(p))

    @property
    def file_suffix(self) -> str:
        suffix = Path(self.file_name).suffix.lower()
        return suffix if re.fullmatch(r"\.[a-z0-9]{2,5}", suffix) else ".wav"


@dataclass(frozen=True)
class SearchPage:
    num_recordings: int  # for the whole query
    num_species: int
    page: int
    num_pages: int
    recordings: tuple[XenoCantoRecord, ...]
    message: str = ""  # e.g. the v2 phase-out notice


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size_bytes: int
    resumed_from_bytes: int = 0  # > 0 when a .part file was continued
    already_there: bool = False  # the file existed: nothing was fetched


# --------------------------------------------------------------------------------------------- client

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_NETWORK_ERRORS = (
    urllib.error.URLError,
    TimeoutError,
    socket.timeout,
    ConnectionError,
    http.client.HTTPException,
)


class _Throttle:
    """At most one request per `min_interval_s`, measured from the start of the previous one."""

    def __init__(
        self, min_interval_s: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.min_interval_s - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self._last = self.clock()


def _error_body(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """(code, message) from an API error body: {"error": "...", "message": "..."} or the nested form."""
    try:
        body = exc.read(64 * 1024)
        data = json.loads(body.decode("utf-8", errors="replace"))
    except (OSError, ValueError, http.client.HTTPException):
        return "", ""
    if not isinstance(data, Mapping):
        return "", ""
    error = data.get("error")
    if isinstance(
        error, Mapping
    ):  # {"error": {"code": "missing_parameter", "message": "no query specified"}}
        return str(error.get("code", "")), str(error.get("message", ""))
    return str(error or ""), str(data.get("message", ""))


def _retry_after_s(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: use our own back-off


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", value or "")
    return int(match.group(1)) if match else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Incomplete(Exception):
    """A download ended before Content-Length said it would (the connection was closed mid-file)."""


class XenoCantoClient:
    """Searches and downloads with one polite, retrying connection policy. Not thread-safe (one throttle)."""

    def __init__(
        self,
        key: str,
        config: ClientConfig = ClientConfig(),
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (key or "").strip():
            raise MissingKeyError(
                "No Xeno-Canto API key. API v3 needs one: a registered Xeno-Canto member finds it at "
                "https://xeno-canto.org/account (set XENO_CANTO_API_KEY for the web app)."
            )
        self._key = key.strip()
        self.config = config
        self._sleep = sleep
        self._throttle = _Throttle(config.min_interval_s, clock, sleep)
        self.requests_made = 0

    # -- plumbing -------------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return redact(text, self._key)

    def _backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.config.backoff_max_s)
        return min(self.config.backoff_initial_s * 2 ** (attempt - 1), self.config.backoff_max_s)

    def _open(self, url: str, headers: Mapping[str, str] | None = None) -> http.client.HTTPResponse:
        self._throttle.wait()
        self.requests_made += 1
        request = urllib.request.Request(
            url, headers={"User-Agent": self.config.user_agent, **(headers or {})}
        )
        logger.debug("GET %s", self.redact(url))
        return urllib.request.urlopen(request, timeout=self.config.timeout_s)  # noqa: S310 - https/http only

    def _api_url(self, query: str, page: int, per_page: int) -> str:
        params = urllib.parse.urlencode(
            {"query": query, "key": self._key, "page": page, "per_page": per_page}
        )
        return f"{self.config.base_url}?{params}"

    def _download_url(self, url: str) -> str:
        if not self.config.key_in_downloads:
            return url
        parts = urllib.parse.urlsplit(url)
        api_host = urllib.parse.urlsplit(self.config.base_url).hostname
        if parts.hostname not in (api_host, "xeno-canto.org", "www.xeno-canto.org"):
            return url  # never hand the key to another host
        query = urllib.parse.parse_qsl(parts.query) + [("key", self._key)]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))

    def _give_up(self, what: str, last_problem: str, *, status: int = 0) -> XenoCantoError:
        attempts = self.config.max_attempts
        if status:
            return ApiError(
                f"{what}: Xeno-Canto answered {last_problem} {attempts} times; try again later.",
                status=status,
            )
        return NetworkError(f"{what}: no answer from Xeno-Canto after {attempts} tries ({last_problem}).")

    # -- search ---------------------------------------------------------------------------------------

    def search(self, query: str, *, page: int = 1, per_page: int | None = None) -> SearchPage:
        """One page of results. Raises QueryError, InvalidKeyError, ApiError or NetworkError."""
        query = normalise_query(query)
        url = self._api_url(query, page, per_page or self.config.per_page)
        what = f"search {query!r} page {page}"
        problem, status = "", 0
        for attempt in range(1, self.config.max_attempts + 1):
            retry_after: float | None = None
            try:
                with self._open(url, {"Accept": "application/json"}) as response:
                    body = response.read()
                return self._parse_page(body, what)
            except urllib.error.HTTPError as exc:
                code, message = _error_body(exc)
                if exc.code == 401:
                    raise InvalidKeyError(
                        "Xeno-Canto refused the API key (HTTP 401"
                        + (f": {self.redact(message)}" if message else "")
                        + "). Check XENO_CANTO_API_KEY against https://xeno-canto.org/account."
                    ) from None
                if exc.code not in _RETRY_STATUSES:
                    detail = self.redact(message or exc.reason or "")
                    hint = " Check the query's tags." if exc.code == 400 else ""
                    raise ApiError(
                        f"{what}: HTTP {exc.code} {detail}.{hint}".strip(), status=exc.code, code=code
                    ) from None
                problem, status, retry_after = f"HTTP {exc.code}", exc.code, _retry_after_s(exc)
            except _NETWORK_ERRORS as exc:
                problem, status = self.redact(f"{type(exc).__name__}: {exc}"), 0
            if attempt < self.config.max_attempts:
                wait = self._backoff_s(attempt, retry_after)
                logger.warning("%s: %s; retrying in %.1f s", what, problem, wait)
                self._sleep(wait)
        raise self._give_up(what, problem, status=status)

    def _parse_page(self, body: bytes, what: str) -> SearchPage:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(f"{what}: the answer is not JSON: {body[:120]!r}") from None
        if not isinstance(data, Mapping) or "error" in data and "recordings" not in data:
            raise ApiError(f"{what}: {self.redact(str(data)[:300])}")
        recordings = data.get("recordings") or []
        if not isinstance(recordings, list):
            raise ApiError(f"{what}: `recordings` is not a list")
        records = tuple(XenoCantoRecord.from_api(r) for r in recordings if isinstance(r, Mapping))
        return SearchPage(
            num_recordings=_integer(data.get("numRecordings")) or 0,
            num_species=_integer(data.get("numSpecies")) or 0,
            page=_integer(data.get("page")) or 1,
            num_pages=_integer(data.get("numPages")) or 0,
            recordings=records,
            message=str(data.get("message", "")),
        )

    def records(
        self, query: str, *, per_page: int | None = None
    ) -> Iterator[tuple[SearchPage, XenoCantoRecord]]:
        """Every record of the query with the page it came on, fetching the next page only when needed."""
        page_number = 1
        while True:
            page = self.search(query, page=page_number, per_page=per_page)
            for record in page.recordings:
                yield page, record
            if page_number >= page.num_pages or not page.recordings:
                return
            page_number += 1

    # -- download -------------------------------------------------------------------------------------

    def download(self, url: str, dest: str | Path) -> DownloadResult:
        """Fetch `url` into `dest`, resuming a `dest.part` left by an earlier try; skip when `dest` exists.

        The file appears under its final name only when complete. Raises DownloadError (404, 403, ...),
        InvalidKeyError, NetworkError or ApiError (after retries); the .part file stays for the next try.
        """
        dest = Path(dest)
        if dest.exists():
            return DownloadResult(dest, sha256_of(dest), dest.stat().st_size, already_there=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        full_url = self._download_url(_https(url))
        what = f"download {self.redact(full_url)}"
        first_offset = part.stat().st_size if part.exists() else 0
        problem, status = "", 0
        for attempt in range(1, self.config.max_attempts + 1):
            retry_after: float | None = None
            try:
                self._fetch_into(full_url, part)
                digest = sha256_of(part)
                size = part.stat().st_size
                part.replace(dest)
                return DownloadResult(dest, digest, size, resumed_from_bytes=first_offset)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    raise InvalidKeyError(
                        f"Xeno-Canto refused the API key for {self.redact(full_url)} (HTTP 401)."
                    ) from None
                if exc.code == 416 and part.exists() and part.stat().st_size > 0:
                    # Range not satisfiable: the .part already holds the whole file.
                    digest, size = sha256_of(part), part.stat().st_size
                    part.replace(dest)
                    return DownloadResult(dest, digest, size, resumed_from_bytes=first_offset)
                if exc.code not in _RETRY_STATUSES:
                    raise DownloadError(f"{what}: HTTP {exc.code} {exc.reason}", status=exc.code) from None
                problem, status, retry_after = f"HTTP {exc.code}", exc.code, _retry_after_s(exc)
            except (_Incomplete, *_NETWORK_ERRORS) as exc:
                problem, status = self.redact(f"{type(exc).__name__}: {exc}"), 0
            if attempt < self.config.max_attempts:
                wait = self._backoff_s(attempt, retry_after)
                kept = part.stat().st_size if part.exists() else 0
                logger.warning("%s: %s; %d bytes kept, resuming in %.1f s", what, problem, kept, wait)
                self._sleep(wait)
        raise self._give_up(what, problem, status=status)

    def _fetch_into(self, url: str, part: Path) -> None:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self._open(url, headers) as response:
            start = _content_range_start(response.headers.get("Content-Range"))
            if response.status == 206 and start == offset:
                mode = "ab"
            else:
                # 200 (the server ignored Range) or a range we did not ask for: start the file again.
                mode, offset = "wb", 0
            length = _integer(response.headers.get("Content-Length"))
            expected = offset + length if length is not None else None
            with part.open(mode) as out:
                while True:
                    chunk = response.read(self.config.chunk_bytes)
                    if not chunk:
                        break
                    out.write(chunk)
        size = part.stat().st_size
        if expected is not None and size != expected:
            raise _Incomplete(f"got {size} of {expected} bytes")
        if size == 0:
            raise DownloadError(f"download {self.redact(url)}: the server sent an empty file")


# --------------------------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportedRecording:
    """A recording now in the dataset folder, with everything needed to credit it."""

    record: XenoCantoRecord
    species: str  # vocabulary id (ml.labels)
    call_types: tuple[str, ...]  # main (first written) first; () when no type maps
    relative_path: str  # inside the dataset folder: audio/XC123.wav
    sha256: str
    size_bytes: int
    header_sample_rate_hz: int
    downloaded: bool  # False: the file was already in the folder
    retrieved_at: str  # ISO date-time (UTC) of this import

    @property
    def licence(self) -> Licence:
        return self.record.licence

    def dataset_file(self, folder: Path) -> DatasetFile:
        r = self.record
        return DatasetFile(
            path=folder / self.relative_path,
            species=self.species,
            call_types=self.call_types,
            time_expansion=1.0,  # real-time uploads; a time-expanded one fails the sample-rate check
            source=f"Xeno-Canto: {r.attribution}",
            licence=r.licence.spdx,
            extra={
                "xc_id": r.catalogue_number,
                "recordist": r.recordist,
                "url": r.url,
                "licence_url": r.licence_url,
                "xc_species": r.scientific_name,
                "xc_type": r.sound_type,
                "sample_rate_hz": str(self.header_sample_rate_hz),
                "country": r.country,
                "quality": r.quality,
                "sha256": self.sha256,
                "retrieved": self.retrieved_at,
            },
        )


@dataclass(frozen=True)
class SkippedRecording:
    xc_id: str
    reason: str


@dataclass(frozen=True)
class ImportProgress:
    """Reported after every record and page: enough for a progress bar and a status line."""

    found: int  # numRecordings of the query
    page: int
    num_pages: int
    seen: int  # records looked at
    imported: int  # in the folder (downloaded now or already there)
    downloaded: int  # fetched by this import
    skipped: int
    limit: int | None
    current: str = ""  # "XC123456: downloading"


@dataclass(frozen=True)
class ImportResult:
    folder: Path
    query: str
    found: int  # numRecordings of the query
    seen: int
    imported: tuple[ImportedRecording, ...]
    skipped: tuple[SkippedRecording, ...]
    unknown_species: Mapping[str, int]  # Xeno-Canto names outside the vocabulary -> recordings
    unknown_sound_types: Mapping[str, int]  # `type` parts that map onto no call type -> recordings
    complete: bool  # False when stopped early (should_stop or an error)
    error: str = ""

    @property
    def downloaded(self) -> int:
        return sum(1 for r in self.imported if r.downloaded)

    @property
    def licences(self) -> dict[str, int]:
        """SPDX id -> recordings imported, most first: the licence mix of this import."""
        return dict(Counter(r.record.licence.spdx for r in self.imported).most_common())

    @property
    def skip_reasons(self) -> dict[str, int]:
        """Reasons with the counts, the part before the first colon (e.g. "licence not allowed")."""
        return dict(Counter(s.reason.split(":")[0] for s in self.skipped).most_common())

    def summary(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "found": self.found,
            "seen": self.seen,
            "imported": len(self.imported),
            "downloaded": self.downloaded,
            "skipped": len(self.skipped),
            "skip_reasons": self.skip_reasons,
            "licences": self.licences,
            "unknown_species": dict(self.unknown_species),
            "unknown_sound_types": dict(self.unknown_sound_types),
            "complete": self.complete,
            "error": self.error,
        }


def _count_unmapped(
    record: XenoCantoRecord, unknown_species: Counter[str], unknown_sound_types: Counter[str]
) -> bool:
    """Count what maps onto nothing; True when the species is outside the vocabulary."""
    for part in record.unknown_sound_types or (() if record.sound_type else ("(no sound type given)",)):
        unknown_sound_types[part] += 1
    label = record.species_label
    if label == labels.BAT or not labels.is_european(label):
        unknown_species[record.scientific_name or "(no name)"] += 1
        return True
    return False


def _decide(record: XenoCantoRecord, config: ImportConfig, species_unmapped: bool) -> str:
    """Why a record is skipped before download; "" = fetch it."""
    if record.group and record.group not in ("bats", "3"):
        return f"not a bat recording: group {record.group}"
    if species_unmapped and not config.keep_unmapped_species:
        return f"species outside the label vocabulary: {record.scientific_name or '(no name)'}"
    licence = record.licence
    if config.allowed_licences is not None and licence.code not in config.allowed_licences:
        return f"licence not allowed: {licence.spdx or 'unknown'}"
    rate = record.sample_rate_hz
    if rate is not None and rate < config.min_sample_rate_hz:
        return f"sample rate too low for bat calls: {rate} Hz (needs {config.min_sample_rate_hz} Hz or more)"
    return ""


def _check_file(path: Path, config: ImportConfig) -> tuple[int, str]:
    """(header sample rate, reason to skip or "") for a downloaded file."""
    try:
        header = read_header(path)
    except AudioError as exc:
        return 0, f"not readable audio: {exc}"
    except (
        Exception
    ) as exc:  # soundfile raises its own errors for formats it cannot open (MP3 on old libsndfile)
        return 0, f"not readable audio: {type(exc).__name__}: {exc}"
    if header.header_sample_rate_hz < config.min_sample_rate_hz:
        return header.header_sample_rate_hz, (
            f"sample rate too low for bat calls: the file says {header.header_sample_rate_hz} Hz "
            f"(needs {config.min_sample_rate_hz} Hz or more)"
        )
    return header.header_sample_rate_hz, ""


def _write_metadata(folder: Path, record: XenoCantoRecord, retrieved_at: str) -> None:
    target = folder / METADATA_FOLDER / f"{record.catalogue_number}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"retrieved": retrieved_at, "attribution": record.attribution, "licence": record.licence.spdx,
               "record": dict(record.raw)}  # fmt: skip
    target.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_folder_labels(folder: Path, imported: tuple[ImportedRecording, ...]) -> Path:
    """labels.csv of the folder: rows of earlier imports kept, rows of this import added or replaced."""
    rows: dict[str, DatasetFile] = {}
    if (folder / LABELS_FILE).exists():
        try:
            for existing in read_dataset(folder):
                if existing.path.exists():
                    rows[existing.path.relative_to(folder).as_posix()] = existing
        except DatasetError as exc:
            logger.warning("rewriting an unreadable %s: %s", folder / LABELS_FILE, exc)
    for item in imported:
        rows[item.relative_path] = item.dataset_file(folder)
    return write_labels(folder, sorted(rows.values(), key=lambda f: f.path.as_posix()))


def import_recordings(
    client: XenoCantoClient,
    query: str,
    folder: str | Path,
    *,
    limit: int | None = None,
    config: ImportConfig = ImportConfig(),
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_imported: Callable[[ImportedRecording], None] | None = None,
) -> ImportResult:
    """Import up to `limit` recordings of `query` into the dataset folder `folder` (module docstring).

    `on_imported` is called as each recording lands (the web app stores its row then, so a crash later
    keeps it); `should_stop` is polled between recordings. labels.csv is written at the end, also when an
    error stops the import: the error is re-raised with `partial` set to what was imported.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    query = normalise_query(query)
    report = progress or (lambda p: None)
    stop = should_stop or (lambda: False)
    retrieved_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    imported: list[ImportedRecording] = []
    skipped: list[SkippedRecording] = []
    unknown_species: Counter[str] = Counter()
    unknown_sound_types: Counter[str] = Counter()
    seen_ids: set[str] = set()
    state = {"found": 0, "page": 0, "num_pages": 0, "seen": 0}
    complete = False

    def tick(current: str = "") -> None:
        report(ImportProgress(found=state["found"], page=state["page"], num_pages=state["num_pages"],
                              seen=state["seen"], imported=len(imported),
                              downloaded=sum(1 for r in imported if r.downloaded), skipped=len(skipped),
                              limit=limit, current=current))  # fmt: skip

    def result(error: str = "") -> ImportResult:
        write_folder_labels(folder, tuple(imported))
        return ImportResult(folder=folder, query=query, found=state["found"], seen=state["seen"],
                            imported=tuple(imported), skipped=tuple(skipped),
                            unknown_species=dict(unknown_species.most_common()),
                            unknown_sound_types=dict(unknown_sound_types.most_common()),
                            complete=complete, error=error)  # fmt: skip

    per_page = None
    if limit is not None:
        # Ask for a few times the limit (skips are common) but never outside what the API accepts.
        per_page = max(PER_PAGE_RANGE[0], min(client.config.per_page, limit * 4))
    stopped = False
    try:
        tick("searching")
        if limit is None or limit > 0:
            for page, record in client.records(query, per_page=per_page):
                state.update(found=page.num_recordings, page=page.page, num_pages=page.num_pages)
                if stop():
                    stopped = True
                    break
                if record.xc_id in seen_ids:
                    continue  # the same record on two pages (the catalogue changed while paging)
                seen_ids.add(record.xc_id)
                state["seen"] += 1
                item = _import_one(client, record, folder, config, unknown_species, unknown_sound_types,
                                   retrieved_at, tick)  # fmt: skip
                if isinstance(item, SkippedRecording):
                    skipped.append(item)
                    logger.info("%s skipped: %s", record.catalogue_number, item.reason)
                else:
                    imported.append(item)
                    if on_imported is not None:
                        on_imported(item)
                tick()
                if limit is not None and len(imported) >= limit:
                    break  # before the generator asks for another page
        complete = not stopped
    except XenoCantoError as exc:
        exc.partial = result(str(exc))
        raise
    return result()


def _import_one(
    client: XenoCantoClient,
    record: XenoCantoRecord,
    folder: Path,
    config: ImportConfig,
    unknown_species: Counter[str],
    unknown_sound_types: Counter[str],
    retrieved_at: str,
    tick: Callable[[str], None],
) -> ImportedRecording | SkippedRecording:
    reason = _decide(record, config, _count_unmapped(record, unknown_species, unknown_sound_types))
    if reason:
        return SkippedRecording(record.catalogue_number, reason)
    relative = f"{AUDIO_FOLDER}/{record.catalogue_number}{record.file_suffix}"
    target = folder / relative
    tick(f"{record.catalogue_number}: downloading")
    try:
        downloaded = client.download(record.file_url, target)
    except DownloadError as exc:
        return SkippedRecording(record.catalogue_number, f"download failed: {exc}")
    rate, reason = _check_file(target, config)
    if reason:
        target.unlink(missing_ok=True)  # useless for training; the reason is reported instead
        return SkippedRecording(record.catalogue_number, reason)
    _write_metadata(folder, record, retrieved_at)
    return ImportedRecording(
        record=record,
        species=record.species_label,
        call_types=record.call_types,
        relative_path=relative,
        sha256=downloaded.sha256,
        size_bytes=downloaded.size_bytes,
        header_sample_rate_hz=rate,
        downloaded=not downloaded.already_there,
        retrieved_at=retrieved_at,
    )
