# Two commands matter: `make demo` (record, replay --verify and verify an example
# actor) and `make test` (the whole test suite). Both create .venv and install the
# pinned project into it first, so they work on a machine with nothing but Python.
# `theater` is then .venv/bin/theater (or `. .venv/bin/activate` to have it on PATH).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo new-build test bench lint clean toolchains

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m theater.demo

# demo/new-build.wasm: fixtures/actors/example_v2 (16 random bytes instead of 8 on the
# second message), to replay the demo's recording on and see it diverge (README.md)
new-build: $(STAMP)
	$(BIN)/python -m theater.demo new-build

# Bytecode of the suite and of the ~250 processes it starts, kept outside the checkout even
# where PYTHONDONTWRITEBYTECODE is set (pytest recompiled and re-rewrote every module on
# each run: 5 s of CPU; tests/conftest.py does the same for a bare `pytest`).
PYCACHE ?= $(or $(TMPDIR),/tmp)/theater-pycache-$(shell id -u)

# The tools of the JavaScript and Rust fixture actors (fixtures/toolchains.py): the pinned
# npm tools with npm ci into a cache folder, and Debian's rustc, libstd-rust-dev-wasm32
# and lld-14 where apt-get runs as root. It never fails: a test whose tool is missing
# skips and says which.
toolchains: $(STAMP)
	-$(BIN)/python -m fixtures.toolchains install

# The layer contracts first (pyproject.toml [tool.importlinter]; CI runs this target), then
# the suite, closing with its 15 slowest tests. The suite runs in TEST_JOBS processes
# (pytest-xdist; each file's tests in one of them, so a module fixture is built once;
# the files holding `slow` tests first, tests/conftest.py, not xdist's most-tests-first,
# so no worker is left alone with the longest file at the end);
# `make test TEST_JOBS=0` runs it in this one. Four processes on two cores: the suite waits
# (on subprocesses, sockets, a TUI going idle) more than it computes; on the same tree on a
# quiet 2-core machine -n 4 took 4:07 and -n 2 5:33 (CPU 7.6 and 7.0 min).
TEST_JOBS ?= 4
test: $(STAMP) toolchains
	$(BIN)/lint-imports --no-logo
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(PYCACHE) $(BIN)/python -m pytest -q --durations=15 \
		-n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

bench: $(STAMP)
	$(BIN)/python -m pytest -q -m bench --benchmark-only --benchmark-columns=min,mean,rounds tests/bench

lint: $(STAMP)
	$(BIN)/ruff check theater replay verify tui fixtures tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# what `make demo` and the install made in the checkout (demo/: its database and
# components); the fixture actors' build cache in ~/.cache/theater is shared and kept
clean:
	rm -rf $(VENV) demo build *.egg-info .import_linter_cache
