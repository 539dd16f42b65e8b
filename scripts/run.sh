#!/usr/bin/env bash
# `make run`: Batsite on one machine with embedded defaults (SQLite in WAL mode, a local Redis), DEBUG off.
#
# Keeps a secret in var/secret_key, migrates, seeds the demo data, collects static files, runs the
# demo-model hook, then starts gunicorn (whitenoise serves static) and a Celery worker through
# scripts/entrypoint.sh, the same entry the Docker image uses. Ctrl-C stops web, worker and any Redis
# this script started, in that order.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

export PATH="$PWD/.venv/bin:$PATH"
export DJANGO_SETTINGS_MODULE=batsite.settings
export DEBUG="${DEBUG:-false}"
export HTTPS="${HTTPS:-false}"  # plain http on 127.0.0.1: no secure-only cookies, no HTTPS redirect
export PORT="${PORT:-8000}"
export WEB_HOST="${WEB_HOST:-127.0.0.1}"
mkdir -p var

if [ -z "${SECRET_KEY:-}" ]; then
    if [ ! -s var/secret_key ]; then
        (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(64))' >var/secret_key)
        say "Created a secret key in var/secret_key; later starts reuse it"
    fi
    SECRET_KEY=$(cat var/secret_key)
    export SECRET_KEY
fi

"$PY" - "$WEB_HOST" "$PORT" <<'PYEOF' || die "Port $PORT on $WEB_HOST is in use (another make run?). Stop it or start with PORT=8001 make run"
import socket, sys
with socket.socket() as s:
    s.bind((sys.argv[1], int(sys.argv[2])))
PYEOF

WEB_PID="" WORKER_PID="" REDIS_PID=""
cleanup() {
    trap - INT TERM
    [ -n "$WEB_PID$WORKER_PID$REDIS_PID" ] && say "Stopping Batsite"
    stop_pid "$WEB_PID" gunicorn 15
    stop_pid "$WORKER_PID" "celery worker" 30  # warm shutdown: lets a running task finish
    stop_pid "$REDIS_PID" redis-server 10
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${REDIS_URL:-}" ] && redis_answers "$REDIS_URL"; then
    say "Using the Redis at REDIS_URL=$REDIS_URL"
else
    [ -n "${REDIS_URL:-}" ] && say "REDIS_URL=$REDIS_URL does not answer; looking for another Redis"
    if redis_answers "redis://127.0.0.1:6379/0"; then
        export REDIS_URL="redis://127.0.0.1:6379/0"
        say "Using the Redis at $REDIS_URL"
    else
        start_private_redis "$PWD/var/redis" yes
    fi
fi

"$PY" manage.py migrate --noinput
seed_output=$("$PY" manage.py seed_demo)
echo "$seed_output"
compile_messages
"$PY" manage.py collectstatic --noinput -v 0
make --no-print-directory demo-model

setsid bash scripts/entrypoint.sh web &
WEB_PID=$!
# One machine: the worker runs the periodic tasks too (--beat); compose runs a separate beat service.
setsid bash scripts/entrypoint.sh worker --beat --schedule var/celerybeat-schedule &
WORKER_PID=$!

for _ in $(seq 120); do
    "$PY" scripts/healthcheck.py 2>/dev/null && break
    kill -0 "$WEB_PID" 2>/dev/null && kill -0 "$WORKER_PID" 2>/dev/null || break
    sleep 0.5
done
if "$PY" scripts/healthcheck.py; then
    cat >&2 <<EOF

==========================================================================================
 Batsite is running at http://$WEB_HOST:$PORT/
$(echo "$seed_output" | sed -n '/^Demo logins/,$p' | sed 's/^/ /')
 Broker: $REDIS_URL    Database: ${DATABASE_URL:-SQLite in var/}
 Ctrl-C stops the web server, the worker and a Redis started for this run.
==========================================================================================

EOF
else
    say "The web server did not become healthy; see the log above"
fi

set +e
wait -n "$WEB_PID" "$WORKER_PID"
status=$?
set -e
kill -0 "$WEB_PID" 2>/dev/null || say "gunicorn exited (status $status); stopping the rest"
kill -0 "$WORKER_PID" 2>/dev/null || say "The Celery worker exited (status $status); stopping the rest"
exit 1
