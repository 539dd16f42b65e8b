"""Celery tasks behind the JSON API's quick analysis: take ids, call one service (classifier.analyse_jobs).

The worker registers these through `classifier.tasks` (which imports this module), so they run with the
other analysis tasks on the `analysis` queue. The time limit is the point of running in a worker: a huge
or pathological file stops at the soft limit (the job is failed with the reason) or is killed at the hard
one (the waiting request or the next poll fails the job).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from classifier import analyse_jobs

_TIME_LIMIT_S = int(getattr(settings, "API_ANALYSE_TIME_LIMIT_S", analyse_jobs.DEFAULT_TIME_LIMIT_S))


@shared_task(
    name="classifier.tasks.analyse_quick_job",
    soft_time_limit=max(_TIME_LIMIT_S - 10, 1),
    time_limit=_TIME_LIMIT_S,
)
def analyse_quick_job(job_id: str) -> None:
    """Not retried: the client sends the file again if it wants (claimed in the database first, so a
    second delivery of the same message does nothing)."""
    analyse_jobs.analyse_job_run(job_id=job_id)


@shared_task(name="classifier.tasks.sweep_analyse_jobs")
def sweep_analyse_jobs() -> int:
    """Periodic (beat) sweep of quick-analysis jobs and files that nobody collected."""
    return analyse_jobs.analyse_jobs_sweep()
