# Batsite: `make run` serves the app on http://127.0.0.1:8000/ (PORT to change), `make test` runs the suite.
# Both set up .venv first; requirements are installed again only when a requirements file is newer than
# the stamp file in .venv.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check --quiet

.PHONY: help run test deps dev-deps demo-model check-deploy clean

help:
	@echo "make run          serve Batsite with a Celery worker (SQLite, local Redis) on 127.0.0.1:\$${PORT:-8000}"
	@echo "make test         run the whole test suite (ARGS='-k smoke' passes options to pytest)"
	@echo "make demo-model   hook: make sure a demo model exists (run by make run)"
	@echo "make check-deploy manage.py check --deploy with production-like settings"
	@echo "make clean        remove collected static files and test leftovers (keeps var/secret_key and data)"

run: deps
	@bash scripts/run.sh

test: dev-deps
	@bash scripts/test.sh $(ARGS)

deps: $(RUNTIME_STAMP)

dev-deps: $(DEV_STAMP)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else \
		"Batsite needs Python 3.11; $(PYTHON) is " + sys.version.split()[0] + ". Run: make PYTHON=/path/to/python3.11 ...")'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "$(PYTHON) cannot create virtualenvs: \
		install the Debian package python3.11-venv (or python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PIP_INSTALL) -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP_INSTALL) -r requirements-dev.txt
	@touch $@ $(RUNTIME_STAMP)

# --- HOOK: demo model ------------------------------------------------------------------------------
# `make run` calls this after migrate and seed_demo. It trains or loads the demo model through
# `manage.py ensure_demo_model` once the classifier app provides that command; until then it says so
# and does nothing. Expects the environment make run sets (SECRET_KEY, DEBUG, database).
demo-model: deps
	@if DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-batsite.settings} $(PY) -c 'import django; django.setup(); from django.core.management import get_commands; \
		raise SystemExit(0 if "ensure_demo_model" in get_commands() else 3)'; then \
		DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-batsite.settings} $(PY) manage.py ensure_demo_model; \
	else \
		test $$? -eq 3 || exit 1; \
		echo "==> demo-model: no ensure_demo_model command yet; skipping the demo model"; \
	fi

check-deploy: deps
	@DEBUG=false HTTPS=true SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		ALLOWED_HOSTS="$${ALLOWED_HOSTS:-batsite.example.org}" PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
		sh scripts/entrypoint.sh check

clean:
	rm -rf staticfiles var/test .pytest_cache
