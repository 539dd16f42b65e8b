"""Celery tasks of the survey app: thin interfaces that take ids and call one service (flow step 2).

Enqueued after the upload's commit (see `surveys.services.recordings_upload`); routed to the `analysis`
queue with analysis itself (settings.CELERY_TASK_ROUTES), so a retraining run never delays ingest.
"""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

# A locked SQLite file or a dropped PostgreSQL connection clears up within seconds to minutes.
_RETRY_COUNTDOWNS_S = (5, 30, 120)


@shared_task(bind=True, acks_late=True, max_retries=len(_RETRY_COUNTDOWNS_S))
def ingest_recording(self, recording_id: int) -> None:
    """Read the metadata of one stored recording. Idempotent, so a redelivery after a crash is harmless.

    Unreadable files are marked failed by the service itself; only database trouble is retried here.
    A recording whose retries ran out stays `uploaded`, and `manage.py ingest_pending` queues it again.
    """
    from surveys import services  # here, not at the top: services imports this module to enqueue it

    try:
        services.recording_ingest(recording_id=recording_id)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=_RETRY_COUNTDOWNS_S[min(self.request.retries, 2)]) from exc
