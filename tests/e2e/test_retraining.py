"""End to end in Chromium: a staff user starts a small retraining run, watches its progress bar finish (the
real Celery worker runs it on the training queue), compares the new version with the active one and
promotes it.

The active model is the ml tests' tiny CNN (common pipistrelle, noctule, noise), trained here once; the run
uses synthetic calls for those classes and the "tiny" preset, so it takes well under a minute on one core.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from batsite.celery import app
from classifier import services
from classifier.models import JobState, ModelVersion, TrainingRun
from classifier.tasks_training import train_model
from tests.factories import UserFactory


RUN_TIMEOUT_MS = 240_000  # queueing, synthesis, training and comparison on a busy two-core machine


def _worker_knows(task_name: str) -> bool:
    registered = app.control.inspect(timeout=5.0).registered() or {}
    return any(task_name in tasks for tasks in registered.values())


def test_staff_user_retrains_watches_the_progress_compares_and_promotes(
    page: Page, log_in, live_server, celery_worker_process, tmp_path_factory
) -> None:
    from tests.ml.test_infer import tiny_model_file

    if not _worker_knows(train_model.name):
        pytest.fail(
            f"the Celery worker has no task {train_model.name}: classifier/tasks.py must import "
            "classifier.tasks_training (or CELERY_IMPORTS name it) so that workers register the training tasks",
            pytrace=False,
        )
    active = services.model_version_register(
        path=tiny_model_file(tmp_path_factory.mktemp("e2e-tiny-model")), name="tiny-active", activate=True
    )
    staff = UserFactory(is_staff=True)
    log_in(page, staff)

    page.goto(reverse("training_runs"))
    page.get_by_label("Xeno-Canto imports").uncheck()
    page.get_by_label("Expert-confirmed recordings").uncheck()
    page.get_by_label("Synthetic calls").check()
    page.get_by_label("Synthetic files per class").fill("3")
    page.get_by_label("Preset").select_option("tiny")
    page.get_by_role("button", name="Start training").click()

    run = TrainingRun.objects.get()
    expect(page).to_have_url(re.compile(rf"/staff/training/{run.pk}/$"))
    bar = page.locator("#training-progress progress")
    expect(bar).to_be_visible()
    expect(page.locator("#training-state")).to_have_text("done", timeout=RUN_TIMEOUT_MS)
    expect(bar).to_have_attribute("value", "100")
    run.refresh_from_db()
    assert run.state == JobState.DONE, run.error
    assert run.history and run.history[-1]["epoch"] >= 1  # epochs were reported as they ran
    expect(page.locator("#training-progress table")).to_contain_text(str(run.history[-1]["epoch"]))

    new = run.model_version
    page.get_by_role("link", name=f"Compare {new.name} with the active model").click()
    expect(
        page.get_by_role("heading", name="Compared with the active model on the frozen test set")
    ).to_be_visible()
    comparison = page.locator("#model-comparison")
    header = comparison.locator("table.model-compare thead")
    expect(header).to_contain_text(new.name)
    expect(header).to_contain_text(active.name)
    expect(comparison.locator("table.per-class-f1")).to_contain_text("Pipistrellus pipistrellus")

    page.get_by_role("button", name=f"Promote {new.name} to the active model").click()

    expect(page.get_by_text(f"{new.name} is now the active model")).to_be_visible()
    expect(page.locator("#model-active-badge")).to_be_visible()
    assert ModelVersion.objects.active() == new
    expect(page.get_by_role("button", name=f"Roll back to {active.name}")).to_be_visible()
