#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into an empty database and media folder, migrate, and check it.
#
#   scripts/restore.sh [--force] [--verify-files] SRC_DIR
#
# The target is what the environment names, as for the app: DATABASE_URL (the PostgreSQL database must
# exist: `createdb`), else the SQLite file SQLITE_PATH (default $BATSITE_VAR_DIR/batsite.sqlite3), and
# MEDIA_ROOT (default var/media). Stop web, workers and beat first. Steps:
#
#   1. check the backup: manifest.json there, each file's sha256 as recorded, the code knows every migration
#   2. refuse a target database that has tables, or a media folder with files, unless --force
#      (--force: SQLite moves the old file aside; PostgreSQL drops every table in the target schema;
#      the media archive is unpacked over the folder, replacing files of the same name)
#   3. PostgreSQL: `pg_restore --no-owner --no-acl` in one transaction; SQLite: copy the backup file in place
#   4. unpack media.tar into MEDIA_ROOT
#   5. `manage.py migrate` brings the schema up to this code's version
#   6. compare the restored row counts with the manifest and look for every recording's file (with
#      --verify-files: read each one and compare its sha256 with its row); exit 1 if anything is off
set -euo pipefail

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'restore.sh: ERROR: %s\n' "$*" >&2; exit 1; }
usage() {
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

FORCE=no
VERIFY=no
SRC=""
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=yes ;;
        --verify-files) VERIFY=yes ;;
        -h | --help) usage ;;
        -*) die "unknown option $arg (usage: scripts/restore.sh [--force] [--verify-files] SRC_DIR)" ;;
        *) [ -z "$SRC" ] || usage; SRC=$arg ;;
    esac
done
[ -n "$SRC" ] || usage
[ -d "$SRC" ] || die "$SRC is not a folder"
SRC=$(cd "$SRC" && pwd)
[ -f "$SRC/manifest.json" ] || die "$SRC has no manifest.json: not a backup made by scripts/backup.sh, or \
one that did not finish"

# shellcheck source=scripts/ops_env.sh
. "$(dirname "$0")/ops_env.sh"
ops_env restore
export BATSITE_RESTORE_FORCE=$FORCE BATSITE_RESTORE_VERIFY=$VERIFY
cd "$ROOT"

# --- 1-3. check the backup and the target, restore the database --------------------------------------------
# Every check (media folder included) comes before the first write, so a refusal changes nothing.
MEDIA_TARGET=$("$PY" - "$SRC" <<'PYEOF'
"""Check the backup and the (empty) targets, then restore the database. Prints the target media folder."""
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import django

src = Path(sys.argv[1])
force = os.environ["BATSITE_RESTORE_FORCE"] == "yes"


def fail(message):
    print(f"restore.sh: ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def say(message):
    print(f"==> {message}", file=sys.stderr)


try:
    django.setup()
except Exception as error:  # noqa: BLE001 - a bad setting: say which, not a traceback
    fail(f"cannot load the settings ({os.environ['DJANGO_SETTINGS_MODULE']}): {error}")

from django.conf import settings
from django.db.migrations.loader import MigrationLoader

manifest = json.loads((src / "manifest.json").read_text())
if manifest.get("format") != "batsite-backup-1":
    fail(f"{src}/manifest.json is not a Batsite backup manifest this script knows")

# 1. the files are the ones the backup wrote
for name, expected in manifest["files"].items():
    path = src / name
    if not path.is_file():
        fail(f"{path} is missing")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected["sha256"]:
        fail(f"{path} is damaged: its sha256 is {digest.hexdigest()}, the manifest says {expected['sha256']}")
say(f"Backup of {manifest['created_at']} checked: {', '.join(manifest['files'])} as recorded")

# ... and this code knows every migration the backed-up database had (else it was made by newer code)
known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
known_apps = {app for app, _ in known}
newer = [n for n in manifest["migrations"]["names"]
         if n.split(".", 1)[0] in known_apps and tuple(n.split(".", 1)) not in known]
if newer:
    fail("the backup was made by a newer Batsite: this code does not know the migration(s) "
         f"{', '.join(newer[:5])}. Restore with the version that made it (code_commit in manifest.json: "
         f"{manifest.get('code_commit')}), then upgrade.")

# 2. the media folder: local, and empty unless --force
from django.core.files.storage import default_storage

storage = settings.STORAGES["default"]["BACKEND"]
try:  # the app's own test for local media (surveys/uploads.py): object storage has no paths
    media_root = Path(default_storage.path(""))
except NotImplementedError:
    media_root = None
if manifest["media"] is not None:
    if media_root is None:
        fail(f"the backup has a media archive but the target storage is {storage}, not a local folder: "
             "unpack media.tar and copy it into the bucket (docs/operations.md), or restore with local "
             "storage")
    if media_root.exists() and not media_root.is_dir():
        fail(f"MEDIA_ROOT {media_root} is not a folder")
    first_file = None
    if media_root.exists():
        first_file = next((p for p in media_root.rglob("*") if not p.is_dir()), None)
    if first_file is not None and not force:
        fail(f"the target media folder {media_root} is not empty (e.g. {first_file}). Restore into a new "
             "MEDIA_ROOT, or pass --force to unpack over it (files of the same name are replaced).")
else:
    say(f"The backup has no media archive (its storage was {manifest['storage_backend']}): restore the media "
        "from the bucket's own backup")

database = settings.DATABASES["default"]
engine = database["ENGINE"]
kind = manifest["database"]["engine"]
stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")

if engine == "django.db.backends.sqlite3":
    if kind != "sqlite":
        fail(f"the backup holds a {kind} database but the target is SQLite: set DATABASE_URL to a {kind} "
             "database (the same kind of database as the backup)")
    target = Path(database["NAME"])
    tables = []
    if target.exists():
        try:
            conn = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                tables = [row[0] for row in rows]
            finally:
                conn.close()
        except sqlite3.DatabaseError as error:
            tables = [f"(unreadable: {error})"]
    if tables and not force:
        fail(f"the target database {target} is not empty ({len(tables)} tables, e.g. {tables[0]}). Restore "
             "into a new SQLITE_PATH, or pass --force to move this file aside and replace it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        old = Path(f"{target}{suffix}")
        if old.exists():
            if tables:
                aside = Path(f"{target}.before-restore-{stamp}{suffix}")
                old.rename(aside)
                say(f"--force: moved {old} aside to {aside}")
            else:
                old.unlink()  # an empty file (or the leftovers of one) holds nothing to keep
    # The backup file is a closed, self-contained SQLite file: a copy is exact. Copy, then rename, so a
    # crash never leaves half a database under the app's name.
    partial = target.with_name(target.name + f".restoring-{stamp}")
    shutil.copyfile(src / manifest["database"]["file"], partial)
    partial.rename(target)
    say(f"Database restored to {target}")

elif engine in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
    if kind != "postgresql":
        fail(f"the backup holds a {kind} database but the target is PostgreSQL: unset DATABASE_URL and set "
             "SQLITE_PATH (the same kind of database as the backup)")
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    pg_restore = shutil.which(os.environ.get("PG_RESTORE") or "pg_restore")
    if not pg_restore:
        fail("pg_restore not found: install the PostgreSQL client of the server's major version (Debian: "
             "postgresql-client-15), or set PG_RESTORE to its path")
    params = {"dbname": database["NAME"], "host": database.get("HOST"), "port": database.get("PORT"),
              "user": database.get("USER")}
    params.update({k: v for k, v in (database.get("OPTIONS") or {}).items() if k.startswith("ssl") or k in (
        "connect_timeout", "application_name", "options", "target_session_attrs", "service")})
    conninfo = make_conninfo(**{k: str(v) for k, v in params.items() if v not in (None, "")})
    env = dict(os.environ)
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    try:
        conn = psycopg.connect(conninfo, password=database.get("PASSWORD") or None, autocommit=True)
    except psycopg.OperationalError as error:
        fail(f"cannot connect to the target database ({conninfo}): {str(error).strip()}. Create it first, "
             f"e.g. createdb {database['NAME']}")
    with conn:
        schema_objects = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
        ).fetchall()
        tables = [name for name, relkind in schema_objects if relkind in ("r", "p")]
        if schema_objects and not force:
            fail(f"the target database {database['NAME']} is not empty ({len(tables)} tables, e.g. "
                 f"{(tables or [schema_objects[0][0]])[0]}). Restore into a new database (createdb), or pass "
                 "--force to drop every table in it first.")
        if schema_objects:
            # Only what lives in the target schema goes: the database, its owner and grants stay.
            # Views, then tables (taking their own sequences with them), then any sequence left over.
            order = {"v": 0, "m": 0, "r": 1, "p": 1, "f": 1, "S": 2}
            kinds = {"v": "VIEW", "m": "MATERIALIZED VIEW", "r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE",
                     "S": "SEQUENCE"}
            with conn.transaction():
                for name, relkind in sorted(schema_objects, key=lambda o: order[o[1]]):
                    conn.execute(sql.SQL("DROP {} IF EXISTS {} CASCADE").format(sql.SQL(kinds[relkind]),
                                                                                 sql.Identifier(name)))
            say(f"--force: dropped {len(schema_objects)} tables, views and sequences from {database['NAME']}")
    # One transaction: a failure leaves the target as empty as it was. No owners or grants from the old
    # host: the objects belong to the user restoring, the one the app connects as.
    restored = subprocess.run(
        [pg_restore, "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error",
         f"--dbname={conninfo}", str(src / manifest["database"]["file"])],
        check=False, env=env, capture_output=True, text=True)
    if restored.returncode != 0:
        fail(f"pg_restore failed (exit {restored.returncode}); nothing was restored: "
             f"{restored.stderr.strip()}")
    say(f"Database restored into {database['NAME']}")
else:
    fail(f"database engine {engine} is not supported by this script (PostgreSQL and SQLite are)")

# The media folder to unpack into, for the shell (stdout): empty when the backup has no media archive.
print(str(media_root) if manifest["media"] is not None else "")
PYEOF
)

# --- 4. the media folder ------------------------------------------------------------------------------------
if [ -n "$MEDIA_TARGET" ]; then
    mkdir -p "$MEDIA_TARGET"
    # --no-same-owner: the files belong to whoever restores (run it as the app's user), not the old uids.
    tar --extract --file "$SRC/media.tar" --directory "$MEDIA_TARGET" --no-same-owner \
        || die "unpacking $SRC/media.tar into $MEDIA_TARGET failed"
    say "Media restored into $MEDIA_TARGET"
fi

# --- 5. bring the schema up to this code's version ----------------------------------------------------------
say "Migrating"
"$PY" manage.py migrate --noinput || die "manage.py migrate failed on the restored database (output above)"

# --- 6. check the restore against the manifest --------------------------------------------------------------
"$PY" - "$SRC" <<'PYEOF'
"""Restored row counts against the manifest's, and every recording's file in the media folder."""
import hashlib
import json
import os
import sys
from pathlib import Path

import django

django.setup()
from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage

COUNTED = {
    "users": settings.AUTH_USER_MODEL, "projects": "surveys.Project", "sites": "surveys.Site",
    "visits": "surveys.Visit", "recordings": "surveys.Recording", "model_versions": "classifier.ModelVersion",
    "analyses": "classifier.Analysis", "predictions": "classifier.Prediction",
    "call_detections": "classifier.CallDetection", "label_decisions": "classifier.LabelDecision",
}
manifest = json.loads((Path(sys.argv[1]) / "manifest.json").read_text())
problems = []
lines = []
for key, label in COUNTED.items():
    expected = manifest["counts"].get(key)
    found = apps.get_model(label)._base_manager.count()
    backup_says = "" if expected in (None, found) else f" (backup: {expected})"
    lines.append(f"{key.replace('_', ' ')}: {found}{backup_says}")
    if expected is not None and expected != found:
        problems.append(f"{key.replace('_', ' ')}: {found} restored, {expected} in the backup")
print("==> Restored " + ", ".join(lines), file=sys.stderr)

Recording = apps.get_model("surveys.Recording")
if manifest["media"] is not None:
    verify = os.environ["BATSITE_RESTORE_VERIFY"] == "yes"
    missing, differing = [], []
    for name, sha256 in Recording._base_manager.values_list("file", "sha256").iterator():
        if not default_storage.exists(name):
            missing.append(name)
        elif verify:
            digest = hashlib.sha256()
            with default_storage.open(name, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != sha256:
                differing.append(name)
    if missing:
        problems.append(f"{len(missing)} recording file(s) missing from {settings.MEDIA_ROOT}, e.g. "
                        + ", ".join(missing[:5]))
    if differing:
        problems.append(f"{len(differing)} recording file(s) whose content differs from the sha256 of their "
                        "row, e.g. " + ", ".join(differing[:5]))
    if not missing and not differing:
        checked = "is there with the content its row records" if verify else "is there"
        print(f"==> Every recording's file {checked} ({settings.MEDIA_ROOT})", file=sys.stderr)
if problems:
    print("restore.sh: ERROR: the restore does not match the backup:\n  " + "\n  ".join(problems),
          file=sys.stderr)
    print("(Restored with the code that made the backup, counts match exactly; migrations of a newer version "
          "may change some.)", file=sys.stderr)
    sys.exit(1)
print("==> Restore complete and checked. Start web, workers and beat; docs/operations.md says what happens "
      "to queued work.", file=sys.stderr)
PYEOF
