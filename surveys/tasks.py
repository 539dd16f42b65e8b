"""Celery tasks of the survey app: thin interfaces that take ids and call one service (flow step 2).

Enqueued after the upload's commit (see `surveys.services.recordings_upload`); routed to the `analysis`
queue with analysis itself (settings.CELERY_TASK_ROUTES), so a retraining run never delays ingest.
`sweep_waiting_uploads` (periodic, settings.CELERY_BEAT_SCHEDULE) queues ingest again for uploads whose
message was lost, e.g. with a Redis restart that kept no copy of its queues.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

# A locked SQLite file or a dropped PostgreSQL connection clears up within seconds to minutes.
_RETRY_COUNTDOWNS_S = (5, 30, 120)


@shared_task(bind=True, acks_late=True, max_retries=len(_RETRY_COUNTDOWNS_S))
def ingest_recording(self, recording_id: int) -> None:
    """Read the metadata of one stored recording. Idempotent, so a redelivery after a crash is harmless.

    Unreadable files are marked failed by the service itself; only database trouble is retried here.
    A recording whose retries ran out stays `uploaded`, and the sweep (or `manage.py ingest_pending`)
    queues it again. A message for a recording that is no longer waiting (a redelivery, or a second message
    from the sweep) does nothing: ingesting again would queue its finished analysis once more.
    """
    from surveys import services  # here, not at the top: services imports this module to enqueue it
    from surveys.models import Recording

    try:
        if not Recording.objects.waiting().filter(pk=recording_id).exists():
            return
        services.recording_ingest(recording_id=recording_id)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=_RETRY_COUNTDOWNS_S[min(self.request.retries, 2)]) from exc


@shared_task
def sweep_waiting_uploads() -> int:
    """Queue ingest again for uploads still waiting after settings.LOST_UPLOAD_AFTER_S; how many."""
    from surveys import services

    older_than = dt.timedelta(seconds=settings.LOST_UPLOAD_AFTER_S)
    return len(services.recordings_ingest_requeue(older_than=older_than))
