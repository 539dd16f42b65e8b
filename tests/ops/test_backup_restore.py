"""scripts/backup.sh and scripts/restore.sh (docs/operations.md): a restore has every recording and label.

The scripts run as the operator runs them, in a subprocess with the app's environment, on the database this
test writes to (data committed: `transactional_db`, since pg_dump and SQLite's backup API see only committed
rows) and restore into a database and media folder of their own: a new SQLite file, or on PostgreSQL a new
database this test creates and drops. The restored database is then read directly (sqlite3 / psycopg), not
through Django, and every recording row, its file (byte for byte, by sha256) and every label decision is
compared with what was written. Runs on SQLite (default) and on PostgreSQL (DATABASE_URL), whichever the
suite uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from classifier.models import LabelDecision, ReviewStatus
from classifier.review import decision_record
from surveys.models import Recording, RecordingStatus, Role
from surveys.services import recordings_upload
from tests.classifier.factories_review import NOC, PIP, ModelVersionFactory, predict
from tests.factories import SiteFactory, VisitFactory, member
from tests.surveys.conftest import make_wav

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKUP = REPO_ROOT / "scripts" / "backup.sh"
RESTORE = REPO_ROOT / "scripts" / "restore.sh"
IS_POSTGRES = connection.vendor == "postgresql"

# slow: each test starts the scripts, and so Django, four or five times.
pytestmark = [pytest.mark.usefixtures("transactional_db"), pytest.mark.slow]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """The app's media in a fresh folder; uploads run their ingest in-process, without a disk reserve."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    settings.DISK_FREE_MARGIN_MB = 0
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return root


# --------------------------------------------------------------------------------------------- helpers


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def database_env(settings_dict: dict) -> dict[str, str]:
    """The environment variables that point the app's settings at the database `settings_dict` describes."""
    if not IS_POSTGRES:
        return {"SQLITE_PATH": str(settings_dict["NAME"])}
    auth = quote(settings_dict["USER"] or "", safe="")
    if settings_dict.get("PASSWORD"):
        auth += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return {"DATABASE_URL": f"postgres://{auth}@{host}:{port}/{quote(settings_dict['NAME'], safe='')}"}


def run_script(
    script: Path, *args: str, database: dict, media: Path, var: Path
) -> subprocess.CompletedProcess:
    """Run a script as an operator would: the app's settings, the database and media given, DEBUG off."""
    unset = ("DATABASE_URL", "SQLITE_PATH", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(
        DJANGO_SETTINGS_MODULE="batsite.settings",
        PYTHON=sys.executable,
        BATSITE_VAR_DIR=str(var),
        MEDIA_ROOT=str(media),
        MEDIA_STORAGE="filesystem",
        DEBUG="false",
        **database_env(database),
    )
    command = ["bash", str(script), *args]
    return subprocess.run(
        command, check=False, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def backup(tmp_path: Path, media_root: Path) -> Path:
    destination = tmp_path / "backup"
    done = run_script(BACKUP, str(destination), database=connection.settings_dict, media=media_root,
                      var=tmp_path / "var")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return destination


@contextlib.contextmanager
def new_database(tmp_path: Path) -> Iterator[dict]:
    """An empty database of the suite's kind: a new SQLite file or PostgreSQL database (dropped after)."""
    if not IS_POSTGRES:
        yield {"NAME": str(tmp_path / "restored.sqlite3")}
        return
    import psycopg
    from psycopg import sql

    source = connection.settings_dict
    name = f"{source['NAME'][:40]}_restored_{uuid.uuid4().hex[:8]}"
    params = {"dbname": "postgres", "host": source.get("HOST") or None, "port": source.get("PORT") or None,
              "user": source.get("USER") or None, "password": source.get("PASSWORD") or None}  # fmt: skip
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {**source, "NAME": name}
    finally:
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def open_database(database: dict) -> Iterator[object]:
    """A DB-API connection to `database`, outside Django (the restore is checked as a separate database)."""
    if not IS_POSTGRES:
        conn = sqlite3.connect(database["NAME"])
    else:
        import psycopg

        conn = psycopg.connect(dbname=database["NAME"], host=database.get("HOST") or None,
                               port=database.get("PORT") or None, user=database.get("USER") or None,
                               password=database.get("PASSWORD") or None)  # fmt: skip
    try:
        yield conn
    finally:
        conn.close()


def fetch(conn, query: str) -> list[tuple]:
    cursor = conn.cursor()
    cursor.execute(query)
    return [tuple(row) for row in cursor.fetchall()]


def as_list(value: object) -> list:
    """A JSON column as Python: psycopg decodes jsonb, sqlite3 gives the text."""
    return json.loads(value) if isinstance(value, str) else list(value)


def tables_in(database: dict) -> set[str]:
    with open_database(database) as conn:
        if IS_POSTGRES:
            rows = fetch(conn, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        else:
            rows = fetch(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


# ------------------------------------------------------------------------------------------------ data


def survey_with_labels() -> None:
    """Two projects' recordings: uploaded through the app (stored, hashed, ingested), analysed, reviewed."""
    site = SiteFactory(code="KR01", name="Kromme Rijn", time_zone="Europe/Amsterdam")
    project = site.project
    expert = member(project, Role.EXPERT)
    manager = member(project, Role.MANAGER)
    visits = [VisitFactory(site=site), VisitFactory(site=SiteFactory(project=project))]
    names = ["KR01_20250612_231502.wav", "KR01_20250612_232010.wav", "KR01_20250612_234455.wav",
             "KR01_20250613_001500.wav", "KR01_20250613_003000.wav"]  # fmt: skip
    for index, name in enumerate(names):
        upload = SimpleUploadedFile(name, make_wav(seed=100 + index), content_type="audio/wav")
        [outcome] = recordings_upload(visit=visits[index % 2], user=expert, files=[upload])
        assert outcome.status == "accepted", outcome.message
    # A second project's recording of the same sound: same hash, its own row and file.
    other_visit = VisitFactory(site=SiteFactory())
    upload = SimpleUploadedFile(names[0], make_wav(seed=100), content_type="audio/wav")
    [outcome] = recordings_upload(visit=other_visit, user=None, files=[upload])
    assert outcome.status == "accepted", outcome.message

    model_version = ModelVersionFactory(file=ContentFile(b"a stored checkpoint", name="backup-test.pt"))
    recordings = list(Recording.objects.filter(project=project).order_by("pk"))
    assert [r.status for r in recordings] == [RecordingStatus.INGESTED] * len(names)
    for recording in recordings:
        predict(recording, model_version, species_present=(PIP,), confidence=0.55)
    first, second, third, fourth, _ = recordings
    decision_record(recording=first, reviewer=expert, status=ReviewStatus.CONFIRMED)
    decision_record(
        recording=second, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC, PIP],
        call_types=["echolocation", "social_call"], note="noctule passes over the pipistrelle",
    )  # fmt: skip
    decision_record(recording=third, reviewer=expert, status=ReviewStatus.NO_BAT)
    decision_record(recording=fourth, reviewer=expert, status=ReviewStatus.UNSURE)
    decision_record(recording=first, reviewer=manager, status=ReviewStatus.CORRECTED, species_present=[NOC])


RECORDINGS_SQL = (
    f"SELECT id, project_id, sha256, file, original_name, size_bytes FROM {Recording._meta.db_table}"
)
DECISIONS_SQL = (
    "SELECT id, recording_id, reviewer_id, status, species_present, call_types, note "
    f"FROM {LabelDecision._meta.db_table}"
)


def decisions_as_written() -> set[tuple]:
    return {
        (d.pk, d.recording_id, d.reviewer_id, d.status, tuple(d.species_present), tuple(d.call_types), d.note)
        for d in LabelDecision.objects.all()
    }


# ------------------------------------------------------------------------------------------------- tests


def test_a_restored_backup_has_every_recording_with_its_file_and_every_label_decision(tmp_path, media_root):
    survey_with_labels()
    recordings = {(r.pk, r.project_id, r.sha256, r.file.name, r.original_name, r.size_bytes)
                  for r in Recording.objects.all()}  # fmt: skip
    decisions = decisions_as_written()
    assert len(recordings) == 6 and len(decisions) == 5

    backup_dir = backup(tmp_path, media_root)
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["counts"]["recordings"] == 6
    assert manifest["counts"]["label_decisions"] == 5

    restored_media = tmp_path / "restored-media"
    with new_database(tmp_path) as target:
        done = run_script(RESTORE, "--verify-files", str(backup_dir), database=target, media=restored_media,
                          var=tmp_path / "var2")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Every recording's file is there with the content its row records" in done.stderr
        with open_database(target) as conn:
            restored_recordings = set(fetch(conn, RECORDINGS_SQL))
            restored_decisions = {
                (pk, recording, reviewer, status, tuple(as_list(species)), tuple(as_list(types)), note)
                for pk, recording, reviewer, status, species, types, note in fetch(conn, DECISIONS_SQL)
            }

    assert restored_recordings == recordings
    for _, _, sha256, name, _, size_bytes in restored_recordings:
        restored_file = restored_media / name
        assert restored_file.is_file(), f"{name} is missing from the restored media"
        assert restored_file.stat().st_size == size_bytes
        assert sha256_of(restored_file) == sha256 == sha256_of(media_root / name)
    assert restored_decisions == decisions
    assert (restored_media / "models" / "backup-test.pt").read_bytes() == b"a stored checkpoint"


@pytest.mark.parametrize("occupied", ["database", "media"])
def test_restore_refuses_a_target_that_is_not_empty_and_changes_nothing(tmp_path, media_root, occupied):
    survey_with_labels()
    backup_dir = backup(tmp_path, media_root)
    restored_media = tmp_path / "restored-media"
    restored_media.mkdir()
    with new_database(tmp_path) as target:
        with open_database(target) as conn:
            if occupied == "database":
                conn.cursor().execute("CREATE TABLE keep_me (note VARCHAR(40))")
                conn.cursor().execute("INSERT INTO keep_me VALUES ('the operator''s data')")
            conn.commit()
        if occupied == "media":
            (restored_media / "notes.txt").write_text("the operator's file")

        done = run_script(
            RESTORE, str(backup_dir), database=target, media=restored_media, var=tmp_path / "var2"
        )

        assert done.returncode == 1
        assert "not empty" in done.stderr and "--force" in done.stderr
        assert tables_in(target) == ({"keep_me"} if occupied == "database" else set())
        if occupied == "database":
            with open_database(target) as conn:
                assert fetch(conn, "SELECT note FROM keep_me") == [("the operator's data",)]
        expected_files = {"notes.txt"} if occupied == "media" else set()
        assert {p.name for p in restored_media.rglob("*")} == expected_files


def test_restore_refuses_a_damaged_backup_before_writing_anything(tmp_path, media_root):
    survey_with_labels()
    backup_dir = backup(tmp_path, media_root)
    archive = backup_dir / "media.tar"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    restored_media = tmp_path / "restored-media"

    with new_database(tmp_path) as target:
        done = run_script(
            RESTORE, str(backup_dir), database=target, media=restored_media, var=tmp_path / "var2"
        )

        assert done.returncode == 1
        assert "media.tar is damaged" in done.stderr
        assert tables_in(target) == set()
    assert not restored_media.exists()


def test_backup_refuses_a_folder_that_already_holds_files(tmp_path, media_root):
    destination = tmp_path / "backup"
    destination.mkdir()
    (destination / "manifest.json").write_text("{}")

    done = run_script(BACKUP, str(destination), database=connection.settings_dict, media=media_root,
                      var=tmp_path / "var")  # fmt: skip

    assert done.returncode == 1
    assert "is not empty" in done.stderr
    assert [p.name for p in destination.iterdir()] == ["manifest.json"]


def test_restore_reports_recordings_whose_file_is_missing_or_changed(tmp_path, media_root):
    survey_with_labels()
    first, second = Recording.objects.order_by("pk")[:2]
    (media_root / first.file.name).unlink()  # lost on the old host before the backup ran
    (media_root / second.file.name).write_bytes(b"RIFF but not what was uploaded")
    backup_dir = backup(tmp_path, media_root)

    with new_database(tmp_path) as target:
        done = run_script(RESTORE, "--verify-files", str(backup_dir), database=target,
                          media=tmp_path / "restored-media", var=tmp_path / "var2")  # fmt: skip

    assert done.returncode == 1
    assert (
        f"1 recording file(s) missing from {tmp_path / 'restored-media'}, e.g. {first.file.name}"
        in done.stderr
    )
    assert (
        f"1 recording file(s) whose content differs from the sha256 of their row, e.g. {second.file.name}"
        in (done.stderr)
    )


def test_restore_with_force_replaces_a_database_that_is_not_empty(tmp_path, media_root):
    survey_with_labels()
    recordings = set(Recording.objects.values_list("pk", "sha256"))
    backup_dir = backup(tmp_path, media_root)
    restored_media = tmp_path / "restored-media"
    restored_media.mkdir()
    (restored_media / "notes.txt").write_text("the operator's file")
    with new_database(tmp_path) as target:
        with open_database(target) as conn:
            # A serial column: its sequence belongs to the table, which is what --force must cope with.
            key = "id SERIAL PRIMARY KEY" if IS_POSTGRES else "id INTEGER PRIMARY KEY AUTOINCREMENT"
            conn.cursor().execute(f"CREATE TABLE keep_me ({key}, note VARCHAR(40))")
            conn.cursor().execute("INSERT INTO keep_me (note) VALUES ('old')")
            conn.commit()

        done = run_script(RESTORE, "--force", str(backup_dir), database=target, media=restored_media,
                          var=tmp_path / "var2")  # fmt: skip

        assert done.returncode == 0, done.stderr
        assert "keep_me" not in tables_in(target)
        with open_database(target) as conn:
            assert set(fetch(conn, f"SELECT id, sha256 FROM {Recording._meta.db_table}")) == recordings
    assert (restored_media / "notes.txt").read_text() == "the operator's file"
    if not IS_POSTGRES:  # SQLite keeps the replaced file beside the restored one
        [aside] = tmp_path.glob("restored.sqlite3.before-restore-*")
        with contextlib.closing(sqlite3.connect(aside)) as conn:
            assert conn.execute("SELECT note FROM keep_me").fetchall() == [("old",)]
