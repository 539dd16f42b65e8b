#!/usr/bin/env bash
# Back up Batsite's database and media folder into one new folder (docs/operations.md says when and how).
#
#   scripts/backup.sh DEST_DIR
#
# It reads the same environment as the app (DATABASE_URL, else the SQLite file SQLITE_PATH, default
# $BATSITE_VAR_DIR/batsite.sqlite3 = var/batsite.sqlite3; MEDIA_ROOT, default var/media) and writes:
#
#   database.dump    PostgreSQL: `pg_dump --format=custom` of one snapshot
#   database.sqlite3 SQLite: a copy made with SQLite's online backup API (never a plain copy of a WAL file)
#   media.tar        the media folder (recordings, model files, rendered images), without temporary files
#   manifest.json    written last: time, migration state, row counts, sha256 of the files above
#   SHA256SUMS       the same sums for `sha256sum -c SHA256SUMS`
#
# The row counts come from the very snapshot that was dumped (PostgreSQL: the dump runs on a snapshot exported
# by the transaction that counts; SQLite: counted in the copy), so scripts/restore.sh can check a restore
# against them exactly. The database is dumped before the media is archived: a recording uploaded meanwhile
# leaves only an unused file in the archive, never a row without its file. A folder without manifest.json is
# an unfinished backup; restore.sh refuses it.
#
# Media on object storage (a non-filesystem storage backend) is not archived here: back the bucket up with
# its own versioning or `aws s3 sync` (docs/operations.md).
set -euo pipefail

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'backup.sh: ERROR: %s\n' "$*" >&2; exit 1; }
usage() {
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -eq 1 ] || usage
case "$1" in -h | --help) usage ;; -*) die "unknown option $1 (usage: scripts/backup.sh DEST_DIR)" ;; esac
DEST=$1

# shellcheck source=scripts/ops_env.sh
. "$(dirname "$0")/ops_env.sh"
ops_env backup

if [ -e "$DEST" ] && [ ! -d "$DEST" ]; then
    die "$DEST exists and is not a folder"
fi
if [ -d "$DEST" ] && [ -n "$(ls -A "$DEST")" ]; then
    die "$DEST is not empty: give a new folder per backup, e.g. backups/batsite-\$(date -u +%Y%m%dT%H%M%SZ)"
fi
umask 077  # the backup holds password hashes and every recording
CREATED=no
[ -d "$DEST" ] || CREATED=yes
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
# A failed backup leaves nothing behind that could pass for one (the folder was empty or new).
discard_unfinished() {
    [ -f "$DEST/manifest.json" ] && return 0
    find "$DEST" -mindepth 1 -delete 2>/dev/null || true
    if [ "$CREATED" = yes ]; then rmdir "$DEST" 2>/dev/null || true; fi
    say "Backup failed; removed what it had written"
}
trap discard_unfinished EXIT
cd "$ROOT"

# --- 1. the database, and what the manifest says about it -----------------------------------------------
say "Dumping the database"
"$PY" - "$DEST" <<'PYEOF'
"""Dump the database of the app's settings into DEST and write DEST/.database.json for the manifest."""
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import django

dest = Path(sys.argv[1])


def fail(message):
    print(f"backup.sh: ERROR: {message}", file=sys.stderr)
    sys.exit(1)


try:
    django.setup()
except Exception as error:  # noqa: BLE001 - a bad setting: say which, not a traceback
    fail(f"cannot load the settings ({os.environ['DJANGO_SETTINGS_MODULE']}): {error}")

from django.apps import apps
from django.conf import settings

COUNTED = {
    "users": settings.AUTH_USER_MODEL, "projects": "surveys.Project", "sites": "surveys.Site",
    "visits": "surveys.Visit", "recordings": "surveys.Recording", "model_versions": "classifier.ModelVersion",
    "analyses": "classifier.Analysis", "predictions": "classifier.Prediction",
    "call_detections": "classifier.CallDetection", "label_decisions": "classifier.LabelDecision",
}
TABLES = {key: apps.get_model(label)._meta.db_table for key, label in COUNTED.items()}
RECORDING_TABLE = TABLES["recordings"]


def describe(cursor, quote, tables_present):
    """Counts, recording bytes and applied migrations, read through `cursor` (one consistent snapshot)."""
    if "django_migrations" not in tables_present:
        fail("the database has no django_migrations table: is it Batsite's database, and migrated?")
    counts = {}
    for key, table in TABLES.items():
        if table in tables_present:
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
            counts[key] = cursor.fetchone()[0]
        else:
            counts[key] = None  # an older schema: the table comes with a later migration
    recording_bytes = 0
    if RECORDING_TABLE in tables_present:
        cursor.execute(f"SELECT COALESCE(SUM(size_bytes), 0) FROM {quote(RECORDING_TABLE)}")
        recording_bytes = int(cursor.fetchone()[0])
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
    applied = [f"{app}.{name}" for app, name in cursor.fetchall()]
    return {"counts": counts, "recording_bytes": recording_bytes, "migrations": applied}


database = settings.DATABASES["default"]
engine = database["ENGINE"]
info = {}

if engine == "django.db.backends.sqlite3":
    source = Path(database["NAME"])
    if not source.is_file():
        fail(f"the SQLite database {source} does not exist (set SQLITE_PATH, BATSITE_VAR_DIR or DATABASE_URL "
             "as the app has them)")
    target = dest / "database.sqlite3"
    # The online backup API copies a consistent state page by page while web and worker keep writing;
    # copying the file (and its -wal) by hand could catch a half-written transaction.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=60)
    dst = sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    check = dst.execute("PRAGMA integrity_check").fetchone()[0]
    if check != "ok":
        fail(f"the copy of {source} fails SQLite's integrity check: {check}")
    present = {row[0] for row in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    cursor = dst.cursor()
    info = describe(cursor, lambda name: '"' + name.replace('"', '""') + '"', present)
    dst.close()
    info.update(engine="sqlite", file=target.name, source=str(source), sqlite_version=sqlite3.sqlite_version)

elif engine in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    pg_dump = shutil.which(os.environ.get("PG_DUMP") or "pg_dump")
    if not pg_dump:
        fail("pg_dump not found: install the PostgreSQL client of the server's major version (Debian: "
             "postgresql-client-15), or set PG_DUMP to its path")
    # Connection settings as Django has them; the password travels in PGPASSWORD, never on a command line.
    params = {"dbname": database["NAME"], "host": database.get("HOST"), "port": database.get("PORT"),
              "user": database.get("USER")}
    params.update({k: v for k, v in (database.get("OPTIONS") or {}).items() if k.startswith("ssl") or k in (
        "connect_timeout", "application_name", "options", "target_session_attrs", "service")})
    conninfo = make_conninfo(**{k: str(v) for k, v in params.items() if v not in (None, "")})
    env = dict(os.environ)
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    version_text = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)(?:\.(\d+))?", version_text)
    dump_major = int(match.group(1)) if match else 0
    try:
        conn = psycopg.connect(conninfo, password=database.get("PASSWORD") or None)
    except psycopg.OperationalError as error:
        fail(f"cannot connect to PostgreSQL ({conninfo}): {str(error).strip()}")
    server_version = conn.info.server_version  # e.g. 150020
    server_major = server_version // 10000
    if dump_major < server_major:
        fail(f"{pg_dump} is version {dump_major} but the server runs {server_major}: pg_dump must be at "
             f"least the server's version. Install postgresql-client-{server_major} or set PG_DUMP to its "
             "pg_dump.")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    target = dest / "database.dump"
    with conn.transaction():
        cursor = conn.cursor()
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        present = {row[0] for row in cursor.fetchall()}
        info = describe(cursor, lambda name: sql.Identifier(name).as_string(conn), present)
        # The dump reads the snapshot this transaction exported, so it holds exactly what was counted.
        dumped = subprocess.run(
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}",
             f"--dbname={conninfo}"],
            check=False, env=env, capture_output=True, text=True)
    conn.close()
    if dumped.returncode != 0:
        fail(f"pg_dump failed (exit {dumped.returncode}): {dumped.stderr.strip()}")
    info.update(engine="postgresql", file=target.name, database=database["NAME"],
                server_version=server_version, pg_dump=version_text.strip())
else:
    fail(f"database engine {engine} is not supported by this script (PostgreSQL and SQLite are)")

from django.core.files.storage import default_storage

try:  # the app's own test for local media (surveys/uploads.py): object storage has no paths
    info["media_root"] = default_storage.path("")
except NotImplementedError:
    info["media_root"] = None
info["storage_backend"] = settings.STORAGES["default"]["BACKEND"]
info["created_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
(dest / ".database.json").write_text(json.dumps(info))
counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in info["counts"].items() if v is not None)
print(f"==> Database dumped to {target}: {counts}", file=sys.stderr)
PYEOF

MEDIA_ROOT_FOUND=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["media_root"] or "")' \
    "$DEST/.database.json")

# --- 2. the media folder ----------------------------------------------------------------------------------
if [ -z "$MEDIA_ROOT_FOUND" ]; then
    say "Media is not on a local folder (see storage_backend in the manifest): it is not archived here;" \
        "back the bucket up with its versioning or \`aws s3 sync\` (docs/operations.md)"
else
    [ -d "$MEDIA_ROOT_FOUND" ] || die "MEDIA_ROOT $MEDIA_ROOT_FOUND does not exist (set MEDIA_ROOT as the \
app has it; on a site without any upload yet, create the empty folder)"
    say "Archiving the media folder $MEDIA_ROOT_FOUND"
    # .staging holds half-received uploads and tmp/ the API's short-lived files: neither belongs to a backup.
    # Stored files are never rewritten in place (uploads are renamed into place), so a file that changes
    # while tar reads it is unexpected and tar's exit 1 is reported, not hidden.
    set +e
    tar --create --file "$DEST/media.tar" --directory "$MEDIA_ROOT_FOUND" \
        --exclude=./.staging --exclude=./tmp .
    status=$?
    set -e
    case $status in
        0) ;;
        1) say "WARNING: tar says some files changed while they were archived (uploads during the backup?);" \
               "the archive is complete for every row in the dump except those" ;;
        *) die "tar failed (exit $status) archiving $MEDIA_ROOT_FOUND" ;;
    esac
fi

# --- 3. the manifest, written last ------------------------------------------------------------------------
"$PY" - "$DEST" <<'PYEOF'
"""Combine DEST/.database.json with the sha256 of every file into manifest.json and SHA256SUMS."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

dest = Path(sys.argv[1])
info = json.loads((dest / ".database.json").read_text())


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


files = {info["file"]: None}
media = None
if (dest / "media.tar").is_file():
    files["media.tar"] = None
    listing = subprocess.run(["tar", "--list", "--file", str(dest / "media.tar")], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    media = {"file": "media.tar", "source": info["media_root"],
             "entries": sum(1 for name in listing if not name.endswith("/"))}
for name in files:
    files[name] = {"sha256": sha256(dest / name), "bytes": (dest / name).stat().st_size}
try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
except (OSError, subprocess.CalledProcessError):
    commit = None  # the Docker image has no .git
manifest = {
    "format": "batsite-backup-1",
    "created_at": info["created_at"],
    "code_commit": commit,
    "database": {k: v for k, v in info.items() if k not in ("counts", "recording_bytes", "migrations",
                                                            "created_at", "media_root", "storage_backend")},
    "media": media,
    "storage_backend": info["storage_backend"],
    "counts": info["counts"],
    "recording_bytes": info["recording_bytes"],
    "migrations": {"applied": len(info["migrations"]), "names": info["migrations"]},
    "files": files,
}
(dest / "SHA256SUMS").write_text("".join(f"{v['sha256']}  {k}\n" for k, v in files.items()))
(dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
(dest / ".database.json").unlink()
print(f"==> Backup complete in {dest} (manifest.json, {', '.join(files)})", file=sys.stderr)
PYEOF
