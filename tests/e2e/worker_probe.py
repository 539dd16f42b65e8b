"""A task that only the end-to-end worker loads (`--include tests.e2e.worker_probe`).

It lets a test prove the worker process works on the same database as the live server: it reads what the
live server wrote and writes back something the test can read.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from batsite.celery import app

PROBE_TASK = "e2e.copy_last_login_to_last_name"


@app.task(name=PROBE_TASK)
def copy_last_login_to_last_name(username: str) -> None:
    user = get_user_model().objects.get(username=username)
    user.last_name = user.last_login.isoformat() if user.last_login else "never"
    user.save(update_fields=["last_name"])
