#!/usr/bin/env bash
# `make test`: the whole pytest suite (tests/, end-to-end tests included) with pytest's exit code.
#
# DATABASE_URL and REDIS_URL are used when set (CI points them at PostgreSQL and Redis). Without them the
# suite runs on a SQLite file database (tests/settings.py) and on a private redis-server started on a
# free port for this run and stopped after it. End-to-end tests drive Debian's chromium at
# $BATSITE_CHROMIUM (default /usr/bin/chromium) and fail, not skip, when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

export PATH="$PWD/.venv/bin:$PATH"
export BATSITE_CHROMIUM="${BATSITE_CHROMIUM:-/usr/bin/chromium}"
mkdir -p var/test

REDIS_PID="" REDIS_DIR=""
cleanup() {
    stop_pid "$REDIS_PID" redis-server 10
    [ -z "$REDIS_DIR" ] || rm -rf "$REDIS_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${REDIS_URL:-}" ]; then
    redis_answers "$REDIS_URL" || say "WARNING: REDIS_URL=$REDIS_URL does not answer; broker tests will fail"
else
    REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/batsite-test-redis.XXXXXX")
    start_private_redis "$REDIS_DIR" no
fi
say "Database: ${DATABASE_URL:-SQLite file under var/test}; broker: $REDIS_URL"
[ -x "$BATSITE_CHROMIUM" ] || say "WARNING: no Chromium at $BATSITE_CHROMIUM: the end-to-end tests will fail \
(install the Debian package chromium, or set BATSITE_CHROMIUM)"

DJANGO_SETTINGS_MODULE=tests.settings compile_messages

set +e
"$PY" -m pytest "$@"
status=$?
set -e
case $status in
    0) ;;
    5) say "pytest collected no tests (exit 5): that is a failure, not a pass" ;;
    *) say "pytest failed with exit code $status" ;;
esac
exit "$status"
