# The set-up commands of the README: `make train`, `make test` and `make python`.
# Both install what a fresh Debian machine lacks (run as root, or with sudo available).

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO ?= cargo
PYTHON ?= python3
# Root without a venv on a Debian python3 (PEP 668): let pip install beside apt's packages.
export PIP_BREAK_SYSTEM_PACKAGES := 1

.PHONY: deps train test python python-deps test-python
# One line says what is installed; apt's own output goes to a log, shown only if apt fails.
deps:
	@dpkg -s libhdf5-dev pkg-config >/dev/null 2>&1 || { \
	  echo "make deps: installing libhdf5-dev and pkg-config with apt (the hdf5 crate links libhdf5)"; \
	  log=$$(mktemp /tmp/npchip-apt.XXXXXX.log); \
	  if { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libhdf5-dev pkg-config; } >"$$log" 2>&1; then \
	    rm -f "$$log"; \
	  else \
	    cat "$$log"; echo "make deps: apt-get failed (output above, kept in $$log)"; exit 1; \
	  fi; }

## Train noisy–noisy DANP on the embedded digits on the noisy rram chip; writes runs/*.h5.
train: deps
	$(CARGO) run --release -- train

## Unit, integration and doc tests (tests that need ../shared/datasets say SKIPPED without it).
test: deps
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --release --no-fail-fast; \
	else \
	  $(CARGO) test --release --no-fail-fast; \
	fi
	$(CARGO) test --release --doc
	$(MAKE) test-python

## The Python package's tools: pip (from apt if missing), then maturin, numpy, pytest, h5py.
python-deps:
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || { \
	  echo "make python-deps: installing python3-pip with apt"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-pip >/dev/null; }
	$(PYTHON) -m pip install -q --disable-pip-version-check maturin numpy pytest h5py

## Build the Python package (python/: the PyO3 extension and npchip/) and install it with pip;
## also the CLI binary its tests compare against. One release build of the extension: the
## workspace shares target/, so the library is not compiled again.
python: deps python-deps
	rm -rf target/wheels
	$(PYTHON) -m maturin build --release -m python/Cargo.toml --compatibility linux --auditwheel skip
	$(PYTHON) -m pip install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/npchip-*.whl
	$(CARGO) build --release --bin npchip

## The Python package's tests (python/tests): a numpy rule on the port, npchip.train vs the CLI.
test-python: python
	cd / && $(PYTHON) -m pytest -q $(CURDIR)/python/tests
