"""Every file of the hostile corpus, uploaded through the visit page's form and through the JSON API.

Whatever arrives, the answer is never a server error: each file is refused with a message that names it
and says why, or stored with its row and then ingested to a clear state (ingested, or unusable / failed
with a reason). No stored file lacks its row, no row lacks its file, no staging file is left behind.
Real audio whose true sample rate cannot hold bat calls is kept and marked unusable.

The upload size limits are lowered to `CORPUS_LIMITS` so ZIP bombs and oversized files can be real
without taking minutes (the checks are the same code with smaller numbers).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from surveys.models import Recording, RecordingStatus, Role
from surveys.tokens import api_token_create
from tests.factories import SiteFactory, VisitFactory, member
from tests.security.hostile_corpus import CORPUS_LIMITS, Hostile, corpus, write_corpus

CASES = corpus()
SERVER_ERROR_TEXT = "because of an error on the server"  # the service's catch-all: a bug, not an answer
BOUNDARY = "----batsite-hostile-boundary-7d1f"


@dataclass(frozen=True)
class Line:
    """One file's answer, from the page's results or the API's JSON."""

    name: str
    status: str
    message: str
    recording_id: int | None


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    written = write_corpus(tmp_path_factory.mktemp("hostile-corpus"))
    return {case.case_id: path for case, path in written}


@pytest.fixture(autouse=True)
def corpus_limits(settings, media_root: Path) -> None:
    for name, value in CORPUS_LIMITS.items():
        setattr(settings, name, value)


@pytest.fixture
def visit(db):
    return VisitFactory(site=SiteFactory(time_zone="Europe/Amsterdam"))


@pytest.fixture
def fieldworker(visit):
    return member(visit.site.project, Role.FIELDWORKER)


def multipart(name: str, content: bytes) -> bytes:
    """A multipart body with the file name exactly as given (Django's test client would strip folders)."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode("utf-8", "surrogateescape")
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def post_file(client: Client, url: str, case: Hostile, path: Path, **headers: str):
    return client.post(
        url,
        data=multipart(case.upload_name, path.read_bytes()),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=headers,
    )


def web_lines(response) -> list[Line]:
    assert response.context is not None, response.content[:500]
    results = response.context["results"]
    lines = [Line(r.name, r.status, r.message, r.recording_id) for r in results]
    if not lines and response.context.get("upload_error"):
        lines = [Line("", "rejected", response.context["upload_error"], None)]
    return lines


def api_lines(response) -> list[Line]:
    body = response.json()
    if response.status_code != 200:  # the API's error shape: the whole request refused
        assert set(body) == {"code", "message", "field"}, body
        return [Line("", "rejected", body["message"], None)]
    return [Line(f["name"], f["status"], f["message"], f["recording_id"]) for f in body["files"]]


def upload_web(client: Client, visit, case: Hostile, path: Path, user, capture) -> list[Line]:
    client.force_login(user)
    with capture(execute=True):
        response = post_file(client, reverse("visit_upload", args=[visit.pk]), case, path)
    assert response.status_code < 500, response.content[:500]
    assert response.status_code in (200, 400), response.status_code
    lines = web_lines(response)
    page = response.content.decode("utf-8", "replace")
    for line in lines:
        if line.status == "rejected":
            assert html.escape(line.message) in page or line.message in page, "the refusal is shown"
    return lines


def upload_api(client: Client, visit, case: Hostile, path: Path, user, capture) -> list[Line]:
    _token, key = api_token_create(user=user, name="hostile")
    with capture(execute=True):
        response = post_file(
            client, f"/api/v1/visits/{visit.pk}/recordings", case, path, Authorization=f"Bearer {key}"
        )
    assert response.status_code < 500, response.content[:500]
    assert response.status_code != 404, "the API upload endpoint is wired in and the visit is found"
    assert response.status_code in (200, 400, 413, 422), (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    return api_lines(response)


def assert_nothing_half_saved(media_root: Path) -> None:
    recordings = media_root / "recordings"
    files = {str(p.relative_to(media_root)) for p in recordings.rglob("*") if p.is_file()} if recordings.exists() else set()
    assert files == set(Recording.objects.values_list("file", flat=True)), "every file has a row and back"
    staging = media_root / ".staging"
    assert not staging.exists() or not any(staging.rglob("*")), "no staging file is left behind"


def assert_answer(case: Hostile, lines: list[Line], media_root: Path) -> None:
    assert lines, "every upload gets at least one line of answer"
    for line in lines:
        assert line.message.strip(), f"{line.name}: every line says what happened"
        assert SERVER_ERROR_TEXT not in line.message, f"{line.name}: unexpected server error: {line.message}"
    assert_nothing_half_saved(media_root)
    stored = list(Recording.objects.all())
    accepted_ids = {line.recording_id for line in lines if line.status == "accepted"}
    assert accepted_ids == {r.pk for r in stored}, "each stored recording is one accepted line"
    for recording in stored:
        assert recording.status != RecordingStatus.UPLOADED, f"{recording.original_name} was never ingested"
        if recording.status in (RecordingStatus.UNUSABLE, RecordingStatus.FAILED):
            assert recording.reason.strip(), "an unusable or failed recording says why"
    if case.expect == "refused":
        assert not stored, f"stored although it must be refused: {[(r.original_name, r.status) for r in stored]}"
        assert any(line.status == "rejected" for line in lines)
    elif case.expect == "unusable":
        assert [r.status for r in stored] == [RecordingStatus.UNUSABLE], [(line.status, line.message) for line in lines]
        assert "sample rate" in stored[0].reason
    elif case.expect == "not_ingested":
        assert all(r.status in (RecordingStatus.UNUSABLE, RecordingStatus.FAILED) for r in stored)


Uploader = Callable[..., list[Line]]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.case_id for c in CASES])
def test_hostile_file_through_the_upload_form_is_refused_or_handled_clearly(
    case: Hostile, corpus_files, visit, fieldworker, media_root, django_capture_on_commit_callbacks
):
    lines = upload_web(Client(), visit, case, corpus_files[case.case_id], fieldworker, django_capture_on_commit_callbacks)
    assert_answer(case, lines, media_root)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.case_id for c in CASES])
def test_hostile_file_through_the_api_is_refused_or_handled_clearly(
    case: Hostile, corpus_files, visit, fieldworker, media_root, django_capture_on_commit_callbacks
):
    lines = upload_api(Client(), visit, case, corpus_files[case.case_id], fieldworker, django_capture_on_commit_callbacks)
    assert_answer(case, lines, media_root)


def test_corpus_holds_at_least_200_deterministic_files(tmp_path: Path):
    first = write_corpus(tmp_path / "a")
    second = write_corpus(tmp_path / "b")
    assert len(first) >= 200
    assert [p.read_bytes() for _, p in first] == [p.read_bytes() for _, p in second]
