"""Media storage that has an uploaded file on disk before the upload is acknowledged.

Django's FileSystemStorage writes (or renames a staged file into place) and returns: the bytes and the
new directory entry may still sit in the page cache, so a power cut right after "Stored" can lose a
recording the user was told is safe, and they may already have wiped the detector's card. Here `_save`
returns only after the file's data and every directory entry it needed (the file's folder and any folder
it created) are fsynced. A rename is durable only once its target folder is synced, hence the folders.

`fsync_stored(storage, name)` does the same for a file any local storage already holds; the upload
service calls it so a stored recording is durable whichever local backend is configured.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, Storage


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file's or a folder's data and metadata to the disk (folders: their entries)."""
    # O_RDONLY is enough: fsync acts on the inode, and folders cannot be opened for writing.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file_and_folders(path: Path, *, up_to: Path) -> None:
    """fsync `path`, then each folder from its parent up to (and including) `up_to`.

    Syncing folders that did not change costs little; leaving out one that gained an entry (a folder
    created for this file) would lose the file's name after a crash.
    """
    fsync_path(path)
    folder = path.parent
    stop = up_to.resolve()
    while True:
        fsync_path(folder)
        if folder.resolve() == stop or folder.parent == folder:
            return
        folder = folder.parent


def _first_missing_folder(folder: Path, *, root: Path) -> Path | None:
    """The topmost folder between `root` and `folder` that does not exist yet (None: all exist)."""
    missing = None
    while folder != root and folder != folder.parent and not folder.exists():
        missing = folder
        folder = folder.parent
    return missing


class DurableFileSystemStorage(FileSystemStorage):
    """FileSystemStorage whose `_save` returns only once the file and its folder entries are on disk."""

    def _save(self, name: str, content: File) -> str:
        root = Path(self.location)
        created = _first_missing_folder(Path(self.path(name)).parent, root=root)
        stored = super()._save(name, content)
        full_path = Path(self.path(stored))
        try:
            # The folder that holds the topmost new folder gained an entry too; sync up to it.
            fsync_file_and_folders(
                full_path, up_to=created.parent if created is not None else full_path.parent
            )
        except BaseException:
            # A file that may not survive a crash is a failed save: the caller stores no row for it, so
            # leave no file behind either.
            self.delete(stored)
            raise
        return stored


def fsync_stored(storage: Storage, name: str) -> None:
    """Make a stored file durable: a no-op for DurableFileSystemStorage (done in `_save`) and remote storage.

    For a plain local FileSystemStorage the file and the folders from its own up to the storage root are
    synced (which folders `_save` created is no longer known, so all of them; a few cheap fsyncs).
    """
    if isinstance(storage, DurableFileSystemStorage):
        return
    try:
        full_path = Path(storage.path(name))
    except NotImplementedError:
        return  # remote storage: its own service decides when a write is safe
    root = Path(getattr(storage, "location", full_path.parent))
    fsync_file_and_folders(full_path, up_to=root)
