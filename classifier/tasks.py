"""Celery tasks of the classifier app: take ids, call one service, handle retries and failures here."""

from __future__ import annotations

from celery import shared_task

from classifier import services


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=2, soft_time_limit=240, time_limit=300)
def analyse_recording(analysis_id: int) -> None:
    """Analyse one recording with one model version (idempotent: claimed in the database first)."""
    services.recording_analyse(analysis_id=analysis_id)


@shared_task
def sweep_stale_analyses() -> int:
    return services.analyses_requeue_stale()


# The worker autodiscovers only classifier.tasks: import the training, import and API tasks with it.
from classifier import tasks_api, tasks_training  # noqa: E402,F401
