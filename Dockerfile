# syntax=docker/dockerfile:1
# Batsite image. The command picks the process (scripts/entrypoint.sh): `web` (default, gunicorn +
# whitenoise), `worker` (Celery), `migrate`, `check`, `manage ...`. compose.yaml shows a whole deployment;
# .ci/run runs the same entry commands outside Docker. See docs/deploy.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: virtualenv with the pinned requirements, compiled translations, collected static files ---
FROM ${PYTHON_IMAGE} AS builder
# Optional extra wheel index, e.g. PyTorch's CPU-only wheels for a much smaller image (docs/deploy.md).
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Requirements first: code changes do not reinstall torch.
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
RUN chmod 0755 scripts/*.sh \
    && if ls locale/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
        DEBUG=true python manage.py compilemessages --ignore=.venv; \
    fi
# DEBUG=true only so settings load without a secret; STATIC_MANIFEST=true writes the hashed names and
# the manifest that the DEBUG-off runtime serves. Same command as in .ci/run.
RUN DEBUG=true STATIC_MANIFEST=true python manage.py collectstatic --noinput

# --- runtime: the virtualenv and the app, no compilers, no pip runs, a non-root user -----------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=batsite.settings \
    DEBUG=false \
    MEDIA_ROOT=/data/media \
    BATSITE_VAR_DIR=/data/var \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    PORT=8000
# pg_dump/pg_restore for scripts/backup.sh and restore.sh (bookworm's 15 matches compose's postgres:15).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 batsite \
    && useradd --system --uid 10001 --gid batsite --home-dir /data --no-create-home --shell /usr/sbin/nologin batsite \
    && mkdir -p /data/media /data/var \
    && chown -R batsite:batsite /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
USER batsite:batsite
EXPOSE 8000
VOLUME ["/data/media"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "scripts/healthcheck.py"]
ENTRYPOINT ["/app/scripts/entrypoint.sh"]
CMD ["web"]
