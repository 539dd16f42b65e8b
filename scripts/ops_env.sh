# Shared set-up of scripts/backup.sh and scripts/restore.sh (sourced, not run; callers define `die`).
#
# ops_env SCRIPT: set ROOT and PY (the app's python: $PYTHON, else the project's virtualenv, else the one on
# PATH as in the Docker image) and export what Django needs to load settings. A backup or restore signs
# nothing, so any key but the built-in development one will do when the environment has none (make run keeps
# its key in var/secret_key, not in the environment).
ops_env() {
    ROOT=$(cd "$(dirname "$0")/.." && pwd)
    if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
    elif [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python
    elif command -v python >/dev/null 2>&1; then PY=python
    elif command -v python3 >/dev/null 2>&1; then PY=python3
    else die "no python found: set PYTHON to the python of Batsite's virtualenv"
    fi
    export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-batsite.settings}
    export SECRET_KEY=${SECRET_KEY:-$1-script-signs-nothing-any-key-will-do}
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    command -v tar >/dev/null 2>&1 || die "tar not found (Debian package tar)"
}
