"""POST /api/v1/analyse: one file analysed by a worker through a short-lived job, nothing of it kept."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from classifier import analyse_jobs
from classifier.models import AnalysisJob, AnalysisState
from ml.audio import TruncatedAudioError
from surveys.models import Recording
from tests.api.conftest import PIP, assert_error, wav_bytes
from tests.factories import UserFactory


def _wav(name: str = "night.wav", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else wav_bytes(), content_type="audio/wav")


def _temporary_files(media_root) -> list:
    folder = media_root / "tmp" / "analyse"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _nothing_kept(media_root) -> None:
    assert not AnalysisJob.objects.exists()
    assert _temporary_files(media_root) == []
    assert not Recording.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_result_comes_back_within_the_wait_and_nothing_is_kept(api, fake_model, media_root):
    """Committed for real, so the queued task runs (eagerly here; a Celery worker in production)."""
    response = api.post_form("/analyse", {"file": _wav(), "time_expansion": "10"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "done"
    analysis = body["analysis"]
    assert (analysis["species"], analysis["species_present"], analysis["file"]) == (PIP, [PIP], "night.wav")
    assert analysis["model_version"] == "fake-api" and len(analysis["calls"]) == 3
    assert [call["novel"] for call in analysis["calls"]] == [False, False, True]
    assert analysis["passes"][0]["n_calls"] == 3
    assert fake_model.analysed[0][1] == 10.0  # the time-expansion factor reached the analysis
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_without_a_worker_the_request_answers_202_and_the_poll_url_gives_the_result_once(
    api, fake_model, media_root
):
    # Inside the test's transaction the task is never sent: like a busy worker that has not started yet.
    response = api.post_form("/analyse?wait_s=0", {"file": _wav()})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["state"], body["analysis"]) == ("queued", None)
    assert response["Location"] == body["url"] == f"/api/v1/analyse/{body['id']}"
    assert len(_temporary_files(media_root)) == 1

    poll = api.client.get(body["url"], headers={"Authorization": f"Bearer {api.key}"})
    assert poll.status_code == 202 and poll.json()["state"] == "queued"

    analyse_jobs.analyse_job_run(job_id=body["id"])  # what the worker does
    assert _temporary_files(media_root) == []  # the worker deletes the file once read

    done = api.client.get(body["url"], headers={"Authorization": f"Bearer {api.key}"})
    assert done.status_code == 200 and done.json()["analysis"]["species"] == PIP
    _nothing_kept(media_root)
    again = api.client.get(body["url"], headers={"Authorization": f"Bearer {api.key}"})
    assert_error(again, 404, "not_found")


@pytest.mark.django_db
def test_another_users_job_is_404(api, api_for, fake_model):
    body = api.post_form("/analyse?wait_s=0", {"file": _wav()}).json()
    other = api_for(UserFactory())
    assert_error(other.get(f"/analyse/{body['id']}"), 404, "not_found")
    assert_error(api.get(f"/analyse/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api.get("/analyse/not-a-uuid"), 422, "invalid", "job_id")


@pytest.mark.django_db(transaction=True)
def test_a_file_the_worker_cannot_analyse_answers_422_and_nothing_is_kept(api, fake_model, media_root):
    fake_model.error = TruncatedAudioError(
        "night.wav is cut off: the header promises more samples than it holds."
    )
    body = assert_error(api.post_form("/analyse", {"file": _wav()}), 422, "invalid_audio", "file")
    assert "cut off" in body["message"]
    _nothing_kept(media_root)


@pytest.mark.django_db(transaction=True)
def test_a_crash_in_the_analysis_is_a_500_in_the_error_shape_and_nothing_is_kept(api, fake_model, media_root):
    fake_model.error = RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    body = assert_error(api.post_form("/analyse", {"file": _wav()}), 500, "server_error", "file")
    assert "RuntimeError" in body["message"] and "mat1" not in body["message"]  # no internals leak out
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_the_worker_stops_at_the_time_limit_and_the_job_says_so(api, fake_model, media_root):
    fake_model.error = SoftTimeLimitExceeded()
    body = api.post_form("/analyse?wait_s=0", {"file": _wav()}).json()
    job = analyse_jobs.analyse_job_run(job_id=body["id"])
    assert job.state == AnalysisState.FAILED and "longer than the limit" in job.error
    assert _temporary_files(media_root) == []
    assert_error(api.get(f"/analyse/{body['id']}"), 422, "time_limit", "file")
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_a_job_whose_worker_was_killed_is_failed_when_polled(api, fake_model, media_root):
    body = api.post_form("/analyse?wait_s=0", {"file": _wav()}).json()
    AnalysisJob.objects.filter(pk=body["id"]).update(
        state=AnalysisState.RUNNING, started_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert_error(api.get(f"/analyse/{body['id']}"), 500, "worker_lost", "file")
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_a_job_no_worker_took_is_failed_when_polled(api, fake_model, media_root):
    body = api.post_form("/analyse?wait_s=0", {"file": _wav()}).json()
    AnalysisJob.objects.filter(pk=body["id"]).update(created_at=timezone.now() - dt.timedelta(minutes=30))
    assert_error(api.get(f"/analyse/{body['id']}"), 503, "not_taken", "file")
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_a_second_delivery_of_the_task_does_nothing(api, fake_model):
    body = api.post_form("/analyse?wait_s=0", {"file": _wav()}).json()
    assert analyse_jobs.analyse_job_run(job_id=body["id"]) is not None
    assert analyse_jobs.analyse_job_run(job_id=body["id"]) is None
    assert len(fake_model.analysed) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.wav", b"fLaC not a wav at all", "FLAC"),
        ("x.wav", b"", "empty"),
        ("x.wav", b"RIFF\x00\x00\x00\x00WAVE", ""),
    ],
)
def test_a_file_that_is_not_a_wav_gets_422_invalid_audio_and_nothing_is_kept(api, fake_model, media_root, name,
                                                                             content, message):  # fmt: skip
    body = assert_error(
        api.post_form("/analyse", {"file": _wav(name, content)}), 422, "invalid_audio", "file"
    )
    assert message in body["message"]
    assert fake_model.analysed == []
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_a_file_over_the_size_limit_gets_413_before_anything_is_stored(api, fake_model, settings, media_root):
    settings.API_ANALYSE_MAX_MB = 1
    big = wav_bytes(duration_s=2.0)  # 1.5 MB
    assert_error(api.post_form("/analyse", {"file": _wav(content=big)}), 413, "too_large", "file")
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_the_worker_refuses_a_file_over_the_size_limit_too(api, fake_model, settings):
    body = api.post_form("/analyse?wait_s=0", {"file": _wav(content=wav_bytes(duration_s=2.0))}).json()
    settings.API_ANALYSE_MAX_MB = 1
    job = analyse_jobs.analyse_job_run(job_id=body["id"])
    assert (job.state, job.error_code) == (AnalysisState.FAILED, "too_large") and "larger than" in job.error
    assert fake_model.analysed == []


@pytest.mark.django_db
def test_without_an_active_model_the_answer_is_409(api, media_root):
    assert_error(api.post_form("/analyse", {"file": _wav()}), 409, "no_active_model")
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_missing_file_or_bad_parameters_get_422(api, fake_model):
    assert_error(api.post_form("/analyse", {}), 422, "invalid", "file")
    assert_error(
        api.post_form("/analyse", {"file": _wav(), "time_expansion": "0"}), 422, "invalid", "time_expansion"
    )
    assert_error(api.post_form("/analyse?wait_s=100", {"file": _wav()}), 422, "invalid", "wait_s")


@pytest.mark.django_db
def test_analyse_needs_a_token(client, fake_model, media_root):
    assert_error(client.post("/api/v1/analyse", {"file": _wav()}), 401, "unauthorized")
    _nothing_kept(media_root)


@pytest.mark.django_db
def test_the_sweep_removes_old_jobs_and_stray_files_but_not_fresh_ones(api, fake_model, media_root):
    old = api.post_form("/analyse?wait_s=0", {"file": _wav()}).json()
    fresh = api.post_form("/analyse?wait_s=0", {"file": _wav()}).json()
    AnalysisJob.objects.filter(pk=old["id"]).update(created_at=timezone.now() - dt.timedelta(hours=2))
    stray = default_storage.save(f"{analyse_jobs.TEMP_FOLDER}/{uuid.uuid4()}.wav", ContentFile(b"RIFF"))
    two_hours_ago = (timezone.now() - dt.timedelta(hours=2)).timestamp()
    os.utime(default_storage.path(stray), (two_hours_ago, two_hours_ago))

    assert analyse_jobs.analyse_jobs_sweep() == 1
    assert list(AnalysisJob.objects.values_list("pk", flat=True)) == [uuid.UUID(fresh["id"])]
    assert [p.name for p in _temporary_files(media_root)] == [f"{fresh['id']}.wav"]


def test_the_worker_knows_the_quick_analysis_task():
    """The task lives in classifier.tasks_api; a worker (a fresh process, like `celery worker`) finds it
    through the autodiscovered classifier.tasks."""
    script = (
        "from batsite.celery import app; app.loader.import_default_modules(); "
        "print(sorted(name for name in app.tasks if name.startswith('classifier.')))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            cwd=settings.BASE_DIR, timeout=120, check=True)  # fmt: skip
    assert "classifier.tasks.analyse_quick_job" in result.stdout
    assert "classifier.tasks.sweep_analyse_jobs" in result.stdout
