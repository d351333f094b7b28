# drkit — the two set-up commands: `make demo` and `make test`.
# Each installs what it needs: Debian packages (when root), a virtualenv, the Python packages.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEBS    := python3-venv perl golang-go golang-github-vmware-govmomi-dev e2fsprogs rsync xdelta3 \
           chromium libiscsi-bin qemu-utils qemu-block-extra tgt

.PHONY: demo test lint bench deps venv clean

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "drkit needs these Debian packages (run as root or install them):$$missing"; exit 1; fi; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: deps $(STAMP)

demo: venv
	$(BIN)/drkit demo

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --durations=15

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .drkit
