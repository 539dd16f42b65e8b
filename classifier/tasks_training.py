"""Celery tasks of the training queue: Xeno-Canto imports, retraining runs and their stale-job sweep.

Each task takes an id and calls one service. Not acks_late: the job is claimed in the database with a
heartbeat (classifier.training), so a long run is never redelivered to a second worker; if its worker dies,
the periodic `sweep_stale_training_jobs` (task name classifier.tasks.train_sweep_stale_jobs) queues it again.

These tasks live in their own module, so the worker must import it (classifier/tasks.py imports it, or
CELERY_IMPORTS names it). Their names are the ones CELERY_TASK_ROUTES sends to the training queue
(classifier.tasks.train_* and classifier.tasks.import_*): a `queue=` on the task is deprecated in Celery 5.7
and ignored from Celery 6.
"""

from __future__ import annotations

from celery import shared_task

from classifier import training, xenocanto_import

TRAINING_TIME_LIMIT_S = 6 * 3600
IMPORT_TIME_LIMIT_S = 4 * 3600


@shared_task(name="classifier.tasks.train_model", acks_late=False, soft_time_limit=TRAINING_TIME_LIMIT_S,
             time_limit=TRAINING_TIME_LIMIT_S + 300)  # fmt: skip
def train_model(run_id: int) -> None:
    """Train one retraining run (claimed in the database first: a duplicate message does nothing)."""
    training.training_run_execute(run_id=run_id)


@shared_task(name="classifier.tasks.import_xenocanto", acks_late=False, soft_time_limit=IMPORT_TIME_LIMIT_S,
             time_limit=IMPORT_TIME_LIMIT_S + 300)  # fmt: skip
def import_xenocanto(job_id: int) -> None:
    """Run one Xeno-Canto import (claimed in the database first)."""
    xenocanto_import.xenocanto_import_run(job_id=job_id)


@shared_task(name="classifier.tasks.train_sweep_stale_jobs")
def sweep_stale_training_jobs() -> dict[str, int]:
    return training.training_jobs_requeue_stale()
