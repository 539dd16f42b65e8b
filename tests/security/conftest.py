"""Fixtures for the security tests: login throttling off, media in a temporary folder, and members of a
project and of another project.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def axes_off(settings) -> None:
    """Login throttling off (test_login_throttling turns it on)."""
    settings.AXES_ENABLED = False


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Iterator[Path]:
    """Media in a fresh temporary folder; no disk reserve; queued tasks run in this process."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    settings.DISK_FREE_MARGIN_MB = 0
    settings.CELERY_TASK_ALWAYS_EAGER = True
    yield root
