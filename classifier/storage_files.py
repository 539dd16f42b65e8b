"""Local paths for stored files, whatever the storage backend.

Workers may run on other hosts with media on shared or object storage, so tasks never assume
`FieldFile.path` exists: they ask for a local path and get the file itself (local storage) or a temporary
copy (remote storage) that disappears afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile


@contextlib.contextmanager
def local_path(field_file: FieldFile, *, suffix: str = ".wav") -> Iterator[Path]:
    storage = field_file.storage
    try:
        path = Path(storage.path(field_file.name))
    except NotImplementedError:
        path = None
    if path is not None and path.exists():
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        with storage.open(field_file.name, "rb") as source:
            shutil.copyfileobj(source, tmp, length=1 << 20)
        tmp.flush()
        yield Path(tmp.name)


# --- the Xeno-Canto library ----------------------------------------------------------------------------
# The importer writes its library to a local folder (ml.xenocanto knows no Django storage); a copy of each
# file goes to media storage too, so a training worker on another host finds it there.
XENO_CANTO_PREFIX = "xeno-canto"


def library_file_publish(*, library: Path, relative_path: str) -> str | None:
    """Copy one imported library file into media storage (once); its storage name, or None if it is gone."""
    source = library / relative_path
    if not source.is_file():
        return None
    name = f"{XENO_CANTO_PREFIX}/{relative_path}"
    if not default_storage.exists(name):
        with source.open("rb") as handle:
            name = default_storage.save(name, File(handle))
    return name


def library_file_fetch(*, relative_path: str, target: Path) -> bool:
    """Copy a library file from media storage to `target`; False when storage does not hold it either."""
    name = f"{XENO_CANTO_PREFIX}/{relative_path}"
    if not default_storage.exists(name):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(name, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink, length=1 << 20)
    return True
