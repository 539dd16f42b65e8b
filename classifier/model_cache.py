"""The worker's copy of the active model: loaded once per process, reloaded when another version is used.

Checkpoints are copied out of storage into a per-host cache folder named by their sha256, so a worker on
another host (media on shared or object storage) loads the same file, and a re-promoted version is not
copied twice.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from ml.model import LoadedModel

    from classifier.models import ModelVersion

_lock = threading.Lock()
_loaded: dict[int, LoadedModel] = {}


def _cache_dir() -> Path:
    path = Path(getattr(settings, "MODEL_CACHE_DIR", settings.VAR_DIR / "model-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_path(model_version: ModelVersion) -> Path:
    """A local copy of the version's checkpoint file."""
    target = _cache_dir() / f"{model_version.sha256}.pt"
    if not target.exists():
        # A name of its own per process and thread: two workers copying the same version at once must not
        # write into one file (the second open would truncate what the first is still writing).
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        with model_version.file.open("rb") as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, length=1 << 20)
        partial.replace(target)
    return target


def loaded_model(model_version: ModelVersion) -> LoadedModel:
    """The loaded model for this version; keeps only the most recently used one in memory."""
    from ml.model import load_model

    with _lock:
        model = _loaded.get(model_version.pk)
        if model is None:
            model = load_model(checkpoint_path(model_version))
            _loaded.clear()  # one model per worker process: memory stays flat across promotions
            _loaded[model_version.pk] = model
        return model


def forget() -> None:
    with _lock:
        _loaded.clear()
