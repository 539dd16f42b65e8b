"""The Celery app: settings with the CELERY_ prefix, JSON only, tasks autodiscovered from the apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batsite.settings")

app = Celery("batsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
