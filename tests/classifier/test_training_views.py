"""Staff pages of the learning loop: imports, training runs, model versions. Each view: the full page, its
HTMX fragment where it has one, staff-only access, and the wrong method.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from classifier.models import JobState, ModelVersion, TrainingRun, XenoCantoImport, XenoCantoRecording
from tests.classifier.conftest import ingested, make_model_version
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
STOP_POLLING = 286


def polled(target: str) -> dict[str, str]:
    return {**HTMX, "HTTP_HX_TARGET": target}


@pytest.fixture(autouse=True)
def folders(settings, tmp_path: Path) -> None:
    settings.TRAINING_DIR = tmp_path / "training"
    settings.XENO_CANTO_DIR = tmp_path / "xeno-canto"


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True))
    return client


def _comparison(new_f1: float, old_f1: float) -> dict:
    def scores(version: str, f1: float) -> dict:
        species = {"labels": ["Pipistrellus pipistrellus", "Myotis daubentonii", "noise"],
                   "confusion": [[5, 1, 0], [0, 4, 2], [0, 0, 9]],
                   "per_class": {"Pipistrellus pipistrellus": {"precision": 1, "recall": 0.8, "f1": f1, "support": 6},
                                 "Myotis daubentonii": {"precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 6}}}  # fmt: skip
        cnn = {"macro_f1_species": f1, "macro_f1_call_type": 0.5, "accuracy_species": 0.8, "accuracy_group": 0.9,
               "ece": 0.05, "n": 21, "species": species}  # fmt: skip
        return {"version": version, "call": {"cnn": cnn, "baseline": {"macro_f1_species": 0.31}},
                "recording": {"cnn": cnn}, "reliability": [{"low": 0.9, "high": 1.0, "n": 12, "confidence": 0.95,
                                                            "accuracy": 0.92}]}  # fmt: skip

    return {"test_files": [{"path": "reviewed/a.wav"}, {"path": "synthetic/b.wav"}],
            "new": scores("new-v", new_f1), "current": scores("old-v", old_f1)}  # fmt: skip


# ----------------------------------------------------------------------------------------------- access


STAFF_PAGES = [
    ("xenocanto_imports", {}),
    ("xenocanto_recordings", {}),
    ("training_runs", {}),
    ("model_versions", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), STAFF_PAGES)
def test_staff_pages_are_closed_to_other_users(client, name, kwargs) -> None:
    url = reverse(name, kwargs=kwargs)

    assert client.get(url).status_code == 302  # to the login page
    client.force_login(UserFactory(is_staff=False))
    assert client.get(url).status_code == 403


def test_object_pages_are_closed_to_other_users_too(client) -> None:
    run = TrainingRun.objects.create()
    version = make_model_version(name="v1")
    client.force_login(UserFactory())

    for url in (
        reverse("training_run_detail", args=[run.pk]),
        reverse("model_version_detail", args=[version.pk]),
    ):
        assert client.get(url).status_code == 403
    assert client.post(reverse("model_version_promote", args=[version.pk])).status_code == 403
    assert not ModelVersion.objects.get(pk=version.pk).is_active


@pytest.mark.parametrize(
    "name",
    ["training_run_cancel", "xenocanto_import_cancel", "model_version_promote", "model_version_roll_back"],
)
def test_actions_only_answer_post(staff_client, name) -> None:
    assert staff_client.get(reverse(name, args=[1])).status_code == 405


def test_unknown_objects_are_404(staff_client) -> None:
    assert staff_client.get(reverse("training_run_detail", args=[999])).status_code == 404
    assert staff_client.get(reverse("model_version_detail", args=[999])).status_code == 404


# ----------------------------------------------------------------------------------------------- imports


def test_the_import_page_warns_when_there_is_no_key(staff_client, settings) -> None:
    settings.XENO_CANTO_API_KEY = ""

    response = staff_client.get(reverse("xenocanto_imports"))

    assert response.status_code == 200
    assert "No Xeno-Canto API key is set" in response.content.decode()


def test_starting_an_import_queues_it_and_shows_its_page(
    staff_client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(reverse("xenocanto_imports"),
                                     {"query": "cnt:netherlands", "limit": 20, "licences": ["by", "by-sa"]})  # fmt: skip

    job = XenoCantoImport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "xenocanto_import_detail", args=[job.pk]
    )
    assert (job.query, job.limit, job.licences) == ("grp:bats cnt:netherlands", 20, ["by", "by-sa"])
    assert len(callbacks) == 1


def test_an_untagged_query_is_sent_back_with_the_reason(staff_client) -> None:
    response = staff_client.post(reverse("xenocanto_imports"), {"query": "bats please", "limit": 5,
                                                                "licences": ["by"]})  # fmt: skip

    assert response.status_code == 400
    assert "tagged queries" in response.content.decode()
    assert not XenoCantoImport.objects.exists()


def test_the_import_progress_polls_until_the_job_is_finished(staff_client) -> None:
    job = XenoCantoImport.objects.create(
        query="grp:bats", limit=10, state=JobState.RUNNING, imported=4, found=30
    )
    url = reverse("xenocanto_import_detail", args=[job.pk])

    running = staff_client.get(url, **polled("import-progress"))
    XenoCantoImport.objects.filter(pk=job.pk).update(state=JobState.DONE, imported=10,
                                                     summary={"licences": {"CC-BY-4.0": 10}})  # fmt: skip
    done = staff_client.get(url, **polled("import-progress"))

    assert running.status_code == 200 and 'hx-trigger="every 1s"' in running.content.decode()
    assert 'value="40"' in running.content.decode()
    assert done.status_code == STOP_POLLING
    assert "hx-get" not in done.content.decode() and "CC-BY-4.0: 10" in done.content.decode()
    assert "<html" not in done.content.decode()  # the fragment only


def test_the_library_lists_recordings_with_their_licences_and_filters_by_licence(staff_client) -> None:
    for n, (licence, url) in enumerate([("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/"),
                                        ("CC-BY-NC-SA-4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/")]):  # fmt: skip
        XenoCantoRecording.objects.create(xc_id=f"XC{n}", species="Nyctalus noctula", licence=licence,
                                          licence_code="x", licence_url=url, url="https://xeno-canto.org/1",
                                          attribution=f"Recordist {n}, XC{n}.", path=f"audio/XC{n}.wav", sha256="0")  # fmt: skip

    everything = staff_client.get(reverse("xenocanto_recordings")).content.decode()
    filtered = staff_client.get(reverse("xenocanto_recordings"), {"licence": "CC-BY-4.0"}).content.decode()

    assert "Recordist 0, XC0." in everything and "Recordist 1, XC1." in everything
    assert 'rel="license noopener">CC-BY-NC-SA-4.0</a>' in everything
    assert "Recordist 0, XC0." in filtered and "Recordist 1, XC1." not in filtered


# ----------------------------------------------------------------------------------------------- training


def test_the_training_page_offers_the_sources_and_licences(staff_client) -> None:
    html = staff_client.get(reverse("training_runs")).content.decode()

    for field in ("use_xeno_canto", "use_reviewed", "use_synthetic", "synthetic_per_class", "preset"):
        assert f'name="{field}"' in html
    assert 'value="by-nc-sa"' in html and 'value="tiny"' in html


def test_starting_a_run_queues_it_and_opens_its_page(
    staff_client, django_capture_on_commit_callbacks
) -> None:
    form = {
        "use_synthetic": "on",
        "synthetic_per_class": 3,
        "use_reviewed": "on",
        "preset": "tiny",
        "seed": 4,
    }

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(reverse("training_runs"), form)

    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "training_run_detail", args=[run.pk]
    )
    assert (run.use_xeno_canto, run.use_reviewed, run.use_synthetic, run.synthetic_per_class) == (
        False,
        True,
        True,
        3,
    )
    assert (run.preset, run.seed, run.state) == ("tiny", 4, JobState.QUEUED)
    assert len(callbacks) == 1


def test_a_run_without_data_is_sent_back(staff_client) -> None:
    response = staff_client.post(
        reverse("training_runs"), {"preset": "tiny", "seed": 0, "synthetic_per_class": 0}
    )

    assert response.status_code == 400
    assert "Choose at least one source" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_progress_bar_polls_while_the_run_works_and_stops_when_it_is_done(staff_client) -> None:
    run = TrainingRun.objects.create(state=JobState.RUNNING, stage="train", epoch=3, epochs=10, train_loss=0.51,
                                     validation_score=0.62, history=[{"epoch": 3, "train_loss": 0.51,
                                                                      "validation_score": 0.62}])  # fmt: skip
    url = reverse("training_run_detail", args=[run.pk])

    running = staff_client.get(url, **polled("training-progress"))
    version = make_model_version(name="run-result")
    TrainingRun.objects.filter(pk=run.pk).update(state=JobState.DONE, stage="done", model_version=version)
    done = staff_client.get(url, **polled("training-progress"))

    html = running.content.decode()
    assert running.status_code == 200 and 'hx-trigger="every 1s"' in html
    assert 'value="48"' in html  # 30 + 60 * 3/10
    assert "3 / 10" in html and "0.5100" in html and "0.6200" in html
    assert 'action="/staff/training/%d/cancel/"' % run.pk in html
    assert done.status_code == STOP_POLLING
    assert 'value="100"' in done.content.decode()
    assert reverse("model_version_detail", args=[version.pk]) in done.content.decode()


def test_the_full_run_page_shows_the_data_and_its_licence_mix(staff_client) -> None:
    run = TrainingRun.objects.create(state=JobState.DONE, data_summary={
        "xeno_canto": {"files": 3, "licences": {"CC-BY-4.0": 3}, "species": {"Nyctalus noctula": 3}},
        "licences": {"CC-BY-4.0": 3},
    })  # fmt: skip

    html = staff_client.get(reverse("training_run_detail", args=[run.pk])).content.decode()

    assert "<html" in html and "CC-BY-4.0: 3" in html and "Nyctalus noctula" in html


def test_cancel_asks_a_running_run_to_stop(staff_client) -> None:
    run = TrainingRun.objects.create(state=JobState.RUNNING)

    response = staff_client.post(reverse("training_run_cancel", args=[run.pk]))

    assert response.status_code == 302
    assert TrainingRun.objects.get(pk=run.pk).cancel_requested


# ----------------------------------------------------------------------------------------------- models


def test_the_model_page_shows_the_new_and_the_active_version_side_by_side(staff_client) -> None:
    active = make_model_version(name="old-v", activate=True)
    new = make_model_version(name="new-v")
    TrainingRun.objects.create(state=JobState.DONE, model_version=new, compared_with=active,
                               comparison=_comparison(0.91, 0.42))  # fmt: skip

    html = staff_client.get(reverse("model_version_detail", args=[new.pk])).content.decode()

    assert "Both versions scored on the same 2 test files" in html
    assert '<th scope="col" class="num">new-v</th><th scope="col" class="num">old-v</th>' in html
    assert "0.910 (n=6)" in html and "0.420 (n=6)" in html  # per-class F1, one column each
    assert "Confusion matrix of new-v" in html and "Confusion matrix of old-v" in html
    assert "Calibration of new-v" in html
    assert 'id="promote-form"' in html


def test_the_active_version_offers_a_roll_back_instead_of_promotion(staff_client) -> None:
    old = make_model_version(name="old-v", activate=True)
    new = make_model_version(name="new-v")
    staff_client.post(reverse("model_version_promote", args=[new.pk]))

    html = staff_client.get(reverse("model_version_detail", args=[new.pk])).content.decode()

    assert 'id="roll-back-form"' in html and f"Roll back to {old.name}" in html
    assert 'id="promote-form"' not in html


def test_promoting_activates_the_version_and_queues_the_chosen_nights(
    staff_client, fake_ml, visit, django_capture_on_commit_callbacks
) -> None:
    make_model_version(name="old-v", activate=True)
    new = make_model_version(name="new-v")
    ingested(visit)
    ingested(visit)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("model_version_promote", args=[new.pk]), {"visits": [visit.pk]},
                                     follow=True)  # fmt: skip

    assert ModelVersion.objects.active() == new
    assert "new-v is now the active model; 2 recordings queued for re-analysis." in response.content.decode()
    assert new.analyses.count() == 2


def test_rolling_back_restores_the_previous_version(staff_client) -> None:
    old = make_model_version(name="old-v", activate=True)
    new = make_model_version(name="new-v")
    staff_client.post(reverse("model_version_promote", args=[new.pk]))

    response = staff_client.post(reverse("model_version_roll_back", args=[new.pk]))

    assert response.status_code == 302 and response["Location"] == reverse(
        "model_version_detail", args=[old.pk]
    )
    assert ModelVersion.objects.active() == old


def test_the_model_list_shows_the_licence_mix_of_each_version(staff_client) -> None:
    version = make_model_version(name="mixed", activate=True)
    ModelVersion.objects.filter(pk=version.pk).update(licences={"CC-BY-NC-SA-4.0": 12, "CC0-1.0": 40})

    html = staff_client.get(reverse("model_versions")).content.decode()

    assert "CC-BY-NC-SA-4.0: 12" in html and "CC0-1.0: 40" in html and ">active<" in html
