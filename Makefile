# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.lock | cksum | cut -d' ' -f1)
# Production-like settings for `check --deploy` (never used to serve anything).
DEPLOY_ENV := env -u DATABASE_URL DEBUG=0 ALLOWED_HOSTS=preop.example.org VAR_DIR=$(CURDIR)/var/deploy-check \
	SECRET_KEY=deploy-check-$(shell cksum Makefile | cut -d' ' -f1)-0123456789abcdefghijklmnopqrstuvwxyz0123456789
# The project's own code, for bandit (tests use assert and fixed test passwords by design).
SOURCES := config core audit accounts patients prep questionnaires documents reminders inbox insights workspace portal api devtools

# Test processes (pytest-xdist): two keep both cores of the CI machine busy while the tests that
# wait on real processes (workers, browsers, a Redis outage) wait. Each takes its own test
# database and Redis database (tests/services.py), so any number up to 15 works.
TEST_WORKERS ?= 2

.PHONY: run test lint format bench bench-quick install clean screenshots lock

# Installs the lock file: every package, transitive ones included, at one version with its hashes.
$(STAMP): requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@mkdir -p var
	@export DEBUG=$${DEBUG-1}; \
	  $(PY) manage.py migrate --noinput -v 0 && \
	  $(PY) manage.py compile_translations && \
	  $(PY) manage.py load_catalogue && \
	  $(PY) manage.py load_demo && \
	  $(PY) manage.py collectstatic --noinput -v 0 && \
	  echo "" && echo "  Open http://127.0.0.1:8000/  (health: http://127.0.0.1:8000/healthz)" && \
	  $(PY) manage.py load_demo --print-logins && echo "  Ctrl-C stops the web server, the worker and beat." && echo "" && \
	  exec $(VENV)/bin/honcho --procfile Procfile start

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=. $(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/bandit -q -r $(SOURCES) -x '*/migrations/*' --severity-level medium
	$(DEPLOY_ENV) $(PY) manage.py check --deploy --fail-level WARNING
	DEBUG=1 VAR_DIR=$(CURDIR)/var/deploy-check $(PY) manage.py makemigrations --check --dry-run --noinput -v 1
	$(PY) manage.py compile_translations --settings=config.test_settings
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Screenshots of the board, a patient page, the surgeon's worklist and the portal (desktop and
# 375 px) into docs/screenshots/, from the demo data in Chromium (/usr/bin/chromium).
screenshots: $(STAMP)
	$(PY) manage.py compile_translations --settings=config.test_settings
	REQUIRE_SERVICES=1 $(VENV)/bin/pytest tests/e2e/screenshots.py -q -p no:randomly

# Re-resolve the lock files after editing requirements*.txt (the pins there are the direct ones).
LOCK := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	$(LOCK) -o requirements.lock requirements.txt
	$(LOCK) -o requirements-dev.lock requirements-dev.txt

bench: $(STAMP)
	$(PY) -m bench

# Every benchmark step at small sizes, each checking its outcome (non-zero exit on a failure), in under
# 2 minutes; prints its table and writes no file (bench/results.md is the full run's).
bench-quick: $(STAMP)
	$(PY) -m bench --quick

clean:
	rm -rf var
