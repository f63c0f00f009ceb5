# Two entry points that work on a fresh machine: `make demo` and `make test`.
# Both set everything up first (apt packages, .venv, the project in editable mode).
# The interpreter of the venv: Debian's own /usr/bin/python3 where it has venv (apt
# package python3-venv), else the first python3 on PATH. Debian builds it with PGO and
# LTO and links libpython into the executable; a pyenv-style `--enable-shared` build
# runs the same code 1.4-1.7x slower, and every start pays that in the daemon, the
# spawner and the client (README "Speed"). `=`: looked up after `apt` ran.
PYTHON ?= $(shell /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
INIT   := runtime/spawn/init/trio-lxc-init
APT_PACKAGES := busybox-static lxc gcc libc6-dev musl-tools libseccomp2 runc containerd python3-venv
# The init is linked with musl where it is installed: 60 KB instead of glibc's 800 KB,
# copied into a memfd and kept in memory once per running application container
# (`=`, not `:=`: looked up when the init is built, after `apt` installed it).
INIT_CC = $(shell command -v musl-gcc || echo gcc)

.PHONY: demo test lint typecheck compat bench setup apt clean

# Byte-compile on every run: client start-up must not pay for compiling, and
# PYTHONDONTWRITEBYTECODE (set in some environments) would make every run pay. The
# daemon runs at -OO (runtime/client/daemon_start.py): its modules, compiled at -OO too.
# The commands that only ask the daemon start without `site` (runtime/tools/launchers.py).
setup: apt $(STAMP) $(INIT)
	@$(BIN)/python -m compileall -q runtime bus cli
	@$(BIN)/python -OO -m compileall -q runtime bus $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
	@$(BIN)/python -m runtime.tools.launchers $(BIN)

# pid 1 of application containers: static (nothing of the host mapped once it runs
# from its sealed memfd), see runtime/spawn/initexe.py. Renamed into place, so a
# spawner starting meanwhile never reads half a binary; rebuilt when the Makefile
# changes (INIT_CC above).
$(INIT): $(INIT).c Makefile
	$(INIT_CC) -static -Os -s -Wall -Wextra -o $@.tmp $< && mv -f $@.tmp $@

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check runtime bus cli tests bench

# mypy --strict over runtime, bus and cli ([tool.mypy] in pyproject.toml).
typecheck: setup
	$(BIN)/mypy

test: setup lint typecheck
	$(BIN)/python -m pytest -q

# LXC 5.0.2's own shell tests against our commands (they live outside the repository,
# in the workplace's ../shared/lxc-tests; a clone without them skips, saying so).
# Known failures are listed in tests/compat-expected-failures.txt: the target fails
# when another test fails or a listed one passes. Under the subreaper wrapper, like
# `demo`, so the daemons the tests start are reaped when they go idle.
LXC_TESTS ?= ../shared/lxc-tests
compat: setup
	$(BIN)/python -m runtime.tools.subreaper --wait 15 -- \
	  tests/compat.sh $(LXC_TESTS) $(BIN) tests/compat-expected-failures.txt

demo: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m runtime.tools.subreaper --wait 15 -- bash conf-examples/demo.sh

# Benchmarks against real LXC (installed by `apt`), as root; not part of `make test`.
# One table of every figure, ours beside LXC in the same run (bench/report.py; a few
# minutes). BENCH_ARGS='--markdown speed.md' also writes it for the README's "Speed".
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m runtime.tools.subreaper --wait 10 -- $(BIN)/python bench/report.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache $(INIT)
