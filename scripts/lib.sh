# Shell helpers shared by scripts/run.sh and scripts/test.sh (sourced, not run).
#
# They find or start the Redis that Celery needs and stop the processes the scripts started.
# Callers set PY to the virtualenv's python before sourcing.

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# redis_answers URL: true when a Redis at URL answers PING within a second.
redis_answers() {
    "$PY" - "$1" <<'PYEOF' 2>/dev/null
import sys

import redis

try:
    ok = redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=1).ping()
except Exception:
    ok = False
sys.exit(0 if ok else 1)
PYEOF
}

# start_private_redis DIR PERSIST: start redis-server on a free local port, data and log under DIR.
# PERSIST=yes keeps an append-only file there (queued tasks survive a restart of `make run`).
# Sets REDIS_PID and exports REDIS_URL. The server runs in its own session so a Ctrl-C in the terminal
# reaches our trap first and Redis is stopped last, after the worker that uses it.
start_private_redis() {
    local dir=$1 persist=$2 port attempt
    command -v redis-server >/dev/null 2>&1 || die "Celery needs Redis: none answered, and there is no \
redis-server binary to start one. Install the Debian package \`redis-server\` (sudo apt-get install \
redis-server), or set REDIS_URL to a Redis that runs."
    mkdir -p "$dir"
    local persistence=(--save "" --appendonly no)
    [ "$persist" = yes ] && persistence=(--save "" --appendonly yes)
    for attempt in 1 2 3; do
        port=$(free_port)
        setsid redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize no \
            --logfile "$dir/redis.log" "${persistence[@]}" &
        REDIS_PID=$!
        export REDIS_URL="redis://127.0.0.1:$port/0"
        for _ in $(seq 50); do
            if redis_answers "$REDIS_URL"; then
                say "Started redis-server (pid $REDIS_PID) at $REDIS_URL, files in $dir"
                return 0
            fi
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.2
        done
        stop_pid "$REDIS_PID" redis-server
    done
    tail -n 20 "$dir/redis.log" >&2 || true
    die "redis-server did not start (log above: $dir/redis.log)"
}

# stop_pid PID NAME [GRACE_S]: SIGTERM, wait up to GRACE_S seconds (default 15), then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 grace=${3:-15} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) did not stop within ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# compile_messages: build .mo files from the project's .po files when there are any (needs gettext).
compile_messages() {
    compgen -G "locale/*/LC_MESSAGES/*.po" >/dev/null || return 0
    if command -v msgfmt >/dev/null 2>&1; then
        "$PY" manage.py compilemessages --ignore=.venv --ignore=var --ignore=staticfiles -v 0
    else
        say "msgfmt not found: the Dutch interface stays untranslated (install the Debian package gettext)"
    fi
}
