# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint format bench install clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@mkdir -p var
	@export DEBUG=$${DEBUG-1}; \
	  $(PY) manage.py migrate --noinput && \
	  $(PY) manage.py load_catalogue && \
	  $(PY) manage.py load_demo && \
	  $(PY) manage.py collectstatic --noinput -v 0 && \
	  echo "" && echo "  Open http://127.0.0.1:8000/  (health: http://127.0.0.1:8000/healthz)" && \
	  $(PY) manage.py load_demo --print-logins && echo "  Ctrl-C stops the web server, the worker and beat." && echo "" && \
	  exec $(VENV)/bin/honcho --procfile Procfile start

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf var
