#!/bin/sh
# The one place that says how Batsite's processes start. The Docker image's ENTRYPOINT, compose.yaml,
# `make run` and .ci/run all call it, so the commands CI exercises are the commands that ship.
#
#   entrypoint.sh web [gunicorn options]     gunicorn + whitenoise on ${WEB_HOST:-0.0.0.0}:${PORT:-8000}
#   entrypoint.sh worker [celery options]    Celery worker on ${CELERY_QUEUES:-analysis,training}
#   entrypoint.sh beat [celery options]      Celery beat: periodic tasks (exactly one per deployment)
#   entrypoint.sh migrate                    apply database migrations
#   entrypoint.sh check                      `manage.py check --deploy`, failing on any warning
#   entrypoint.sh manage COMMAND [...]       any other management command
#   entrypoint.sh ANYTHING ELSE              run as given (e.g. a shell in the container)
set -eu

command=${1:-web}
[ $# -gt 0 ] && shift

case "$command" in
    web)
        # gthread workers: a slow upload holds one thread, not a whole worker process.
        # Keep-alive off by default: a kept-alive connection stays with the worker process that accepted it,
        # and under load one worker took every connection and served them on one core while the other
        # idled (half the throughput; docs/benchmarks.md, web under load). Closing after each response
        # spreads requests over the workers; the TLS proxy in front keeps its own connections to browsers.
        exec gunicorn batsite.wsgi:application \
            --bind "${WEB_HOST:-0.0.0.0}:${PORT:-8000}" \
            --workers "${WEB_CONCURRENCY:-2}" \
            --worker-class gthread \
            --threads "${WEB_THREADS:-4}" \
            --keep-alive "${WEB_KEEPALIVE_S:-0}" \
            --timeout "${WEB_TIMEOUT_S:-120}" \
            --access-logfile - \
            "$@"
        ;;
    worker)
        # `check` runs Django's system checks once per deploy; skipping them in every worker process saves
        # ~80 MB each (they import every view, matplotlib and scipy).
        export CELERY_SKIP_CHECKS="${CELERY_SKIP_CHECKS:-1}"
        exec celery --app batsite worker \
            --queues "${CELERY_QUEUES:-analysis,training}" \
            --concurrency "${CELERY_CONCURRENCY:-2}" \
            --loglevel "${LOG_LEVEL:-INFO}" \
            "$@"
        ;;
    beat)
        mkdir -p "${BATSITE_VAR_DIR:-var}"
        exec celery --app batsite beat \
            --schedule "${BATSITE_VAR_DIR:-var}/celerybeat-schedule" \
            --loglevel "${LOG_LEVEL:-INFO}" \
            "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    check)
        exec python manage.py check --deploy --fail-level WARNING "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
