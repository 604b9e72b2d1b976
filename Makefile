# Two commands a newcomer needs: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PLUGINS := amazon shopee lazada tiktok payments fx_ecb tax_eu tax_uk tax_us ninjavan dhl_express fedex mail_postmark translate_deepl oidc wms_shipbob
IDE     := core/api/ide

.PHONY: setup demo serve test lint typecheck schema check clean bench

$(VENV)/.installed: pyproject.toml $(wildcard plugins/*/pyproject.toml) $(IDE)/package.json $(IDE)/package-lock.json
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' $(foreach p,$(PLUGINS),-e plugins/$(p))
	npm ci --prefix $(IDE) --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed

# `make demo PORT=8123` to serve somewhere other than port 8000
PORT    ?= 8000
demo: setup
	$(VENV)/bin/crossdock serve --demo --port $(PORT)

# Two pytest-xdist workers when the second PostgreSQL cluster of .ci/services answers on
# 5433 (each worker needs a cluster of its own: see CROSSDOCK_TEST_POSTGRES in
# crossdock.testing.pytest_plugin); one process otherwise.
PG_MAIN  ?= postgresql://postgres@127.0.0.1:5432/test
PG_XDIST ?= postgresql://postgres@127.0.0.1:5433/postgres
test: setup
	@if pg_isready -h 127.0.0.1 -p 5433 -q 2>/dev/null; then \
	  echo "pytest on two workers (PostgreSQL 5432 and 5433)"; \
	  CROSSDOCK_TEST_POSTGRES="$(PG_MAIN),$(PG_XDIST)" $(VENV)/bin/pytest -n 2 --dist loadfile; \
	else \
	  $(VENV)/bin/pytest; \
	fi

lint: setup
	$(VENV)/bin/ruff check core plugins tests migrations bench
	$(VENV)/bin/ruff format --check core plugins tests migrations bench

# mypy strict (pyproject.toml's settings) on the core, on every plugin under plugins/ (package
# and tests), and on a plugin freshly made by `crossdock plugins new`, as its author gets it.
# mypy cannot follow the editable install's core/ -> crossdock mapping; a symlink can. Each
# plugin's package is found through MYPYPATH (their names are distinct); their tests folders
# all share the name `tests`, so each is checked in a run of its own.
ALL_PLUGINS := $(patsubst plugins/%/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
MYPY        := $(VENV)/bin/mypy --config-file pyproject.toml
space       := $() $()
PLUGIN_PATH := $(subst $(space),:,$(addprefix plugins/,$(ALL_PLUGINS)))
typecheck: setup
	mkdir -p build/typecheck && ln -sfn ../../core build/typecheck/crossdock
	MYPYPATH=build/typecheck $(MYPY) -p crossdock
	MYPYPATH=build/typecheck:$(PLUGIN_PATH) $(MYPY) $(foreach p,$(ALL_PLUGINS),-p crossdock_$(p))
	for p in $(ALL_PLUGINS); do MYPYPATH=build/typecheck:$(PLUGIN_PATH) $(MYPY) plugins/$$p/tests || exit 1; done
	new=$$(mktemp -d) && trap 'rm -rf "$$new"' EXIT && \
	  $(PY) -m crossdock.cli plugins new scaffolded --path "$$new" >/dev/null && \
	  MYPYPATH=build/typecheck:$$new/crossdock-scaffolded $(MYPY) -p crossdock_scaffolded && \
	  MYPYPATH=build/typecheck:$$new/crossdock-scaffolded $(MYPY) $$new/crossdock-scaffolded/tests

schema: setup
	$(PY) -c "from crossdock.api.schema import SCHEMA_FILE, schema; SCHEMA_FILE.write_text(schema.as_str() + '\n')"

# Benchmarks on SQLite and PostgreSQL: prints a table, writes bench/results.json
bench: setup
	$(PY) bench/run.py

check: lint typecheck test

clean:
	rm -rf $(VENV) $(IDE)/node_modules
