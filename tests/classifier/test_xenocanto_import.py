"""Xeno-Canto imports in the app: the job, its library rows, failures, and the management command, against
the local API v3 stand-in of tests/ml/test_xenocanto.py (real stored records, small WAVs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from classifier import xenocanto_import
from classifier.models import JobState, XenoCantoImport, XenoCantoRecording
from ml.dataset import read_dataset
from tests.factories import UserFactory
from tests.ml.test_xenocanto import KEY, FakeXenoCanto, dutch_full_spectrum, v3_records, xc_server  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def xc(settings, xc_server: FakeXenoCanto, tmp_path: Path) -> FakeXenoCanto:  # noqa: F811
    settings.XENO_CANTO_API_KEY = KEY
    settings.XENO_CANTO_API_URL = xc_server.api_url
    settings.XENO_CANTO_MIN_INTERVAL_S = 0.0
    settings.XENO_CANTO_DIR = tmp_path / "library"
    return xc_server


def _run(query: str = "grp:bats", *, limit: int = 50, licences=()) -> XenoCantoImport:
    job = xenocanto_import.xenocanto_import_start(query=query, limit=limit, licences=licences, queue=False)
    return xenocanto_import.xenocanto_import_run(job_id=job.pk)


def test_an_import_stores_every_recording_with_licence_and_attribution(xc: FakeXenoCanto, settings) -> None:
    xc.serve(v3_records())

    job = _run()

    assert job.state == JobState.DONE, job.error
    assert (job.found, job.seen, job.imported, job.skipped) == (7, 7, 4, 3)
    row = XenoCantoRecording.objects.get(xc_id="XC928094")
    assert row.species == "Myotis dasycneme" and row.call_types == ["echolocation", "feeding_buzz"]
    assert (row.licence, row.licence_code) == ("CC-BY-NC-ND-4.0", "by-nc-nd")
    assert row.recordist == "Marten Talsma" and row.url == "https://xeno-canto.org/928094"
    assert row.attribution == "Marten Talsma, XC928094. Accessible at www.xeno-canto.org/928094"
    assert row.imported_by == job
    assert (settings.XENO_CANTO_DIR / row.path).is_file()
    assert job.summary["unknown_species"] == {"Hipposideros caffer": 1, "Nyctimene robinsoni": 1,
                                              "Austronomus australis": 1}  # fmt: skip
    assert job.summary["licences"] == {"CC-BY-NC-SA-4.0": 2, "CC-BY-NC-ND-4.0": 2}
    assert len(read_dataset(settings.XENO_CANTO_DIR)) == 4


def test_every_imported_file_is_copied_to_media_storage_for_workers_on_other_hosts(xc: FakeXenoCanto,
                                                                                     settings) -> None:
    xc.serve(v3_records())

    _run()

    rows = list(XenoCantoRecording.objects.all())
    assert len(rows) == 4
    for row in rows:
        stored = default_storage.open(f"xeno-canto/{row.path}", "rb").read()
        assert stored == (settings.XENO_CANTO_DIR / row.path).read_bytes()


def test_the_licence_filter_of_the_job_is_applied(xc: FakeXenoCanto) -> None:
    xc.serve(v3_records())

    job = _run(licences=["by-nc-sa"])

    assert set(XenoCantoRecording.objects.values_list("licence", flat=True)) == {"CC-BY-NC-SA-4.0"}
    assert job.summary["skip_reasons"]["licence not allowed"] == 2


def test_importing_again_updates_the_rows_instead_of_adding_new_ones(xc: FakeXenoCanto) -> None:
    xc.serve(v3_records())
    _run()
    downloads = len(xc.download_requests())

    second = _run()

    assert XenoCantoRecording.objects.count() == 4
    assert (second.imported, second.downloaded) == (4, 0)
    assert len(xc.download_requests()) == downloads
    assert set(XenoCantoRecording.objects.values_list("imported_by", flat=True)) == {second.pk}


def test_without_a_key_the_job_fails_with_a_clear_message(xc: FakeXenoCanto, settings) -> None:
    settings.XENO_CANTO_API_KEY = ""
    xc.serve(v3_records())

    job = _run()

    assert job.state == JobState.FAILED
    assert "No Xeno-Canto API key" in job.error and "XENO_CANTO_API_KEY" in job.error
    assert xc.requests == []


def test_a_refused_key_fails_the_job_with_the_api_message_and_not_the_key(
    xc: FakeXenoCanto, settings
) -> None:
    settings.XENO_CANTO_API_KEY = "wrong-key-5d1e"
    xc.serve(v3_records())

    job = _run()

    assert job.state == JobState.FAILED
    assert "Missing or invalid 'key' parameter" in job.error
    assert "wrong-key-5d1e" not in job.error


def test_an_import_that_fails_half_way_keeps_what_it_fetched(
    xc: FakeXenoCanto, settings, monkeypatch
) -> None:
    xc.serve(dutch_full_spectrum()[:60])
    xc.fail_pages_from = 2  # page 2 (of 50 each) answers 500 every time
    normal = xenocanto_import.client_config
    monkeypatch.setattr(xenocanto_import, "client_config",
                        lambda: replace(normal(), per_page=50, max_attempts=2, backoff_initial_s=0.0))  # fmt: skip

    job = _run("grp:bats cnt:netherlands", limit=60)

    assert job.state == JobState.FAILED and "HTTP 500" in job.error
    assert job.imported == 50 == XenoCantoRecording.objects.count()
    assert len(read_dataset(settings.XENO_CANTO_DIR)) == 50


@pytest.mark.parametrize(
    ("query", "limit", "licences", "message"),
    [
        ("Pipistrellus", 10, (), "tagged queries"),
        ("grp:bats", 0, (), "limit"),
        ("grp:bats", 10, ("by", "copyright"), "unknown licence"),
    ],
)
def test_an_import_that_cannot_run_as_asked_is_refused(query, limit, licences, message) -> None:
    with pytest.raises(xenocanto_import.ImportRequestError, match=message):
        xenocanto_import.xenocanto_import_start(
            query=query, limit=limit, licences=licences, user=UserFactory()
        )

    assert not XenoCantoImport.objects.exists()


def test_a_cancelled_import_stops_between_recordings(xc: FakeXenoCanto, monkeypatch) -> None:
    xc.serve(v3_records())
    job = xenocanto_import.xenocanto_import_start(query="grp:bats", limit=50, queue=False)
    original = xenocanto_import.xenocanto_recording_store

    def store_then_cancel(*, item, job=None):
        row = original(item=item, job=job)
        XenoCantoImport.objects.filter(pk=job.pk).update(cancel_requested=True)  # staff pressed "cancel"
        return row

    monkeypatch.setattr(xenocanto_import, "xenocanto_recording_store", store_then_cancel)
    monkeypatch.setattr("classifier.training.CANCEL_CHECK_EVERY_S", 0.0)

    job = xenocanto_import.xenocanto_import_run(job_id=job.pk)

    assert job.state == JobState.CANCELLED
    assert XenoCantoRecording.objects.count() == 1


# ----------------------------------------------------------------------------------------------- command


def test_the_management_command_imports_and_reports(xc: FakeXenoCanto, capsys) -> None:
    xc.serve(v3_records())

    call_command(
        "import_xenocanto", "grp:bats", "--limit", "3", "--licence", "by-nc-sa", "--licence", "by-nc-nd"
    )

    out = capsys.readouterr().out
    assert "3 imported" in out and "Licences:" in out
    assert XenoCantoRecording.objects.count() == 3
    assert XenoCantoImport.objects.get().state == JobState.DONE


def test_the_management_command_refuses_to_run_without_a_key(xc: FakeXenoCanto, settings) -> None:
    settings.XENO_CANTO_API_KEY = ""

    with pytest.raises(CommandError, match="XENO_CANTO_API_KEY"):
        call_command("import_xenocanto", "grp:bats")
