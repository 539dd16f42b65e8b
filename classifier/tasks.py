"""Celery tasks of the classifier app: take ids, call one service, handle retries and failures here."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from classifier import services

# A PostgreSQL restart or a locked SQLite file clears up within seconds to minutes.
_RETRY_COUNTDOWNS_S = (5, 30, 120)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=len(_RETRY_COUNTDOWNS_S),
    soft_time_limit=settings.ANALYSIS_SOFT_TIME_LIMIT_S,
    time_limit=settings.ANALYSIS_TIME_LIMIT_S,  # the sweep's stale window (STALE_ANALYSIS_AFTER_S) is longer
)
def analyse_recording(self, analysis_id: int, resume_attempt: int | None = None) -> None:
    """Analyse one recording with one model version (idempotent: claimed in the database first).

    A lost database connection is retried here; a retry after the claim takes that claim back. Once the
    retries run out, a claimed analysis is queued again by the periodic sweep when its claim went stale.
    """
    countdown = _RETRY_COUNTDOWNS_S[min(self.request.retries, len(_RETRY_COUNTDOWNS_S) - 1)]
    try:
        services.recording_analyse(analysis_id=analysis_id, resume_attempt=resume_attempt)
    except services.AnalysisInterrupted as exc:
        raise self.retry(
            args=[analysis_id], kwargs={"resume_attempt": exc.attempt}, exc=exc, countdown=countdown
        ) from exc
    except (OperationalError, InterfaceError) as exc:  # before the claim: nothing to take back
        raise self.retry(args=[analysis_id], kwargs={}, exc=exc, countdown=countdown) from exc


@shared_task
def sweep_stale_analyses() -> int:
    return services.analyses_requeue_stale()


# The worker autodiscovers only classifier.tasks: import the training, import and API tasks with it.
from classifier import tasks_api, tasks_training  # noqa: E402,F401
