# Taller: `make run` starts the portal on the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The services the tests use: the machine's PostgreSQL and Redis.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/taller
TEST_REDIS ?= redis://127.0.0.1:6379
# The suite runs in this many pytest-xdist workers; each takes two Redis databases from 0 up
# (tests/xdist_services.py) and a test database of its own. Most tests wait on servers they start.
TEST_WORKERS ?= 2
# Where the embedded default keeps its SQLite files, broker folders and MLflow store.
VAR := $(or $(TALLER_VAR_DIR),var)

.PHONY: run test bench install install-test var services browser compose-tool gettext-tool sandbox-tool prometheus-tool migrate lint messages clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

var:
	mkdir -p $(VAR)/celery/queue $(VAR)/celery/processed $(VAR)/celery/control $(VAR)/jobs $(VAR)/mlartifacts $(VAR)/cache

migrate: install var
	$(BIN)/python manage.py migrate --noinput

# The embedded default: SQLite, a filesystem broker and a local MLflow server under var/. The Procfile's
# processes run under supervisord (portal/supervise.py), which starts again any that dies; Ctrl-C stops
# all. Their commands find python, celery and mlflow on PATH; TALLER_PORT and TALLER_MLFLOW_PORT move
# the web server (8000) and MLflow (5000).
run: migrate
	$(BIN)/python manage.py seed_demo
	# exec: the shell gives its place to supervisord, so that a SIGTERM sent to make (which passes it
	# on to its children) reaches supervisord and stops every process, rather than ending only the shell.
	PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/python -m portal.supervise Procfile

# PostgreSQL and Redis: start them where the machine has them and they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
		--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
		echo "PostgreSQL or Redis did not start" >&2; exit 1

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# GNU gettext: the translation test extracts the messages of the sources and compares the catalogue.
gettext-tool:
	@command -v msgfmt >/dev/null && command -v xgettext >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext >/dev/null)

# Debian's docker-compose, which checks docker-compose.yml as Compose reads it (no Docker engine needed).
compose-tool:
	@command -v docker-compose >/dev/null || (apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null)

# Debian's bubblewrap: the local executor runs each job in a sandbox of its own with it (tests check it).
sandbox-tool:
	@command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null)

# Debian's Prometheus and promtool: a test scrapes a live portal with them and checks the alert rules.
prometheus-tool:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

test: install-test services browser compose-tool gettext-tool sandbox-tool prometheus-tool
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS)/0 CACHE_URL=$(TEST_REDIS)/1 PYTHONPATH=$(CURDIR) \
		$(BIN)/pytest -p tests.xdist_services -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: install-test services
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS)/0 CACHE_URL=$(TEST_REDIS)/1 \
		$(BIN)/python -m bench

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Regenerate the translation catalogues (needs GNU gettext); the compiled .mo files are committed.
messages: install
	$(BIN)/python manage.py makemessages -l es --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*' \
		--ignore 'bench/*' --ignore 'taller_cli/*' --ignore 'docs/*'
	$(BIN)/python manage.py makemessages -d djangojs -l es --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*' \
		--ignore 'bench/*' --ignore 'taller_cli/*' --ignore 'docs/*' --ignore 'static/vendor/*'
	$(BIN)/python manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf var
