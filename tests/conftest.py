"""Fixtures every test package can use."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings and API responses in ../shared/data (read-only; never copy them into the repo)."""
    if not (SHARED_DATA / "recordings" / "manifest.csv").is_file():
        pytest.fail(
            f"real test data not found at {SHARED_DATA}: the tests expect the shared data folder beside the "
            "repository (../shared/data relative to the project root)"
        )
    return SHARED_DATA
