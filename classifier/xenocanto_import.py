"""Xeno-Canto imports in the app: a staff-started job that fills the local recording library (flow step 7).

The web app's side of ml.xenocanto: `xenocanto_import_start` stores the job and queues `import_xenocanto` on
the training queue; `xenocanto_import_run` claims the job in the database (classifier.training.job_claim),
calls `ml.xenocanto.import_recordings` with the key from the XENO_CANTO_API_KEY setting, writes progress and
a heartbeat to the job row as it goes, and stores one `XenoCantoRecording` row per recording the moment its
file lands, so an import that fails half-way keeps what it fetched (files, rows and labels.csv). The library
is one dataset folder (settings.XENO_CANTO_DIR, default var/xeno-canto); training runs link its files.

Settings read here: XENO_CANTO_API_KEY, XENO_CANTO_API_URL (tests point it at 127.0.0.1),
XENO_CANTO_MIN_INTERVAL_S (default 1 s between requests), MIN_TRUE_SAMPLE_RATE_HZ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.utils import timezone

from classifier.models import JobState, XenoCantoImport, XenoCantoRecording
from classifier.storage_files import library_file_publish
from classifier.training import JobMonitor, job_cancel, job_claim, xeno_canto_library_dir
from ml.xenocanto import (
    DEFAULT_BASE_URL,
    LICENCE_CODES,
    ClientConfig,
    ImportConfig,
    ImportedRecording,
    ImportProgress,
    XenoCantoClient,
    XenoCantoError,
    import_recordings,
    normalise_query,
)

logger = logging.getLogger(__name__)

MAX_LIMIT = 5000  # one job; Xeno-Canto asks for mass downloads to be arranged with them


class ImportRequestError(ValueError):
    """An import that cannot start as asked (bad query, limit or licence); the message is for the form."""


def api_key() -> str:
    return str(getattr(settings, "XENO_CANTO_API_KEY", "") or "")


def client_config() -> ClientConfig:
    return ClientConfig(
        base_url=getattr(settings, "XENO_CANTO_API_URL", DEFAULT_BASE_URL),
        min_interval_s=float(getattr(settings, "XENO_CANTO_MIN_INTERVAL_S", 1.0)),
    )


def xenocanto_import_start(
    *, query: str, limit: int, licences: Iterable[str] = (), user: Any = None, queue: bool = True
) -> XenoCantoImport:
    """Check the request, store the job and queue it on the training queue (`queue=False`: the caller runs
    it with `xenocanto_import_run`, as the management command does)."""
    from classifier.tasks_training import import_xenocanto

    try:
        query = normalise_query(query)
    except ValueError as exc:
        raise ImportRequestError(str(exc)) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ImportRequestError(f"the limit must be between 1 and {MAX_LIMIT}")
    licences = sorted(set(licences))
    unknown = set(licences) - set(LICENCE_CODES)
    if unknown:
        raise ImportRequestError(f"unknown licence code(s): {', '.join(sorted(unknown))}")
    job = XenoCantoImport.objects.create(
        query=query, limit=limit, licences=licences,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        message="waiting for a worker on the training queue",
    )  # fmt: skip
    if queue:
        import_xenocanto.delay_on_commit(job.pk)
    return job


def xenocanto_import_cancel(*, job: XenoCantoImport) -> XenoCantoImport:
    job_cancel(XenoCantoImport, job)
    return job


def xenocanto_recording_store(
    *, item: ImportedRecording, job: XenoCantoImport | None = None
) -> XenoCantoRecording:
    """Upsert the library row of one imported recording (by Xeno-Canto number)."""
    record = item.record
    licence = record.licence
    row, _ = XenoCantoRecording.objects.update_or_create(
        xc_id=record.catalogue_number,
        defaults={
            "species": item.species,
            "scientific_name": record.scientific_name,
            "english_name": record.english_name,
            "call_types": list(item.call_types),
            "sound_type": record.sound_type[:300],
            "licence": licence.spdx[:60],
            "licence_code": licence.code,
            "licence_url": record.licence_url[:300],
            "recordist": record.recordist[:200],
            "url": record.url[:300],
            "attribution": record.attribution[:500],
            "country": record.country[:100],
            "quality": record.quality[:20],
            "sample_rate_hz": item.header_sample_rate_hz or record.sample_rate_hz,
            "path": item.relative_path,
            "sha256": item.sha256,
            "size_bytes": item.size_bytes,
            "imported_by": job,
            "retrieved_at": timezone.now(),
            "raw": dict(record.raw),
        },
    )
    library_file_publish(library=xeno_canto_library_dir(), relative_path=item.relative_path)
    return row


class _ImportMonitor(JobMonitor):
    def progress(self, update: ImportProgress) -> None:
        self.beat(
            force=update.current == "searching",
            found=update.found, seen=update.seen, imported=update.imported, downloaded=update.downloaded,
            skipped=update.skipped,
            message=(update.current or f"page {update.page} of {update.num_pages}")[:300],
        )  # fmt: skip


def xenocanto_import_run(*, job_id: int) -> XenoCantoImport | None:
    """Claim and run one import; None when another worker has it. Errors end up on the job row."""
    claim = job_claim(XenoCantoImport, job_id)
    if claim is None:
        return None
    job = XenoCantoImport.objects.get(pk=job_id)
    monitor = _ImportMonitor(XenoCantoImport, job_id, claim)
    config = ImportConfig(
        min_sample_rate_hz=int(getattr(settings, "MIN_TRUE_SAMPLE_RATE_HZ", 100_000)),
        allowed_licences=frozenset(job.licences) or None,
    )
    try:
        client = XenoCantoClient(api_key(), client_config())
        result = import_recordings(
            client, job.query, xeno_canto_library_dir(), limit=job.limit, config=config,
            progress=monitor.progress, should_stop=monitor.should_stop,
            on_imported=lambda item: xenocanto_recording_store(item=item, job=job),
        )  # fmt: skip
    except XenoCantoError as exc:
        partial = exc.partial.summary() if exc.partial is not None else {}
        counts = _counts(partial)
        monitor.finish(JobState.FAILED, error=str(exc), summary=partial, message="failed", **counts)
    except Exception as exc:  # shown on the job's page; the traceback goes to the worker log
        logger.exception("Xeno-Canto import %s failed", job_id)
        monitor.finish(JobState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], message="failed")
    else:
        summary = result.summary()
        state = JobState.CANCELLED if monitor.cancelled and not result.complete else JobState.DONE
        monitor.finish(state, summary=summary, message="cancelled" if state == JobState.CANCELLED else "done",
                       **_counts(summary))  # fmt: skip
    job.refresh_from_db()
    return job


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    if not summary:
        return {}
    return {
        name: int(summary.get(name, 0)) for name in ("found", "seen", "imported", "downloaded", "skipped")
    }
