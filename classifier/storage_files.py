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
