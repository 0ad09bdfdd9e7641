# The two set-up commands of the README: `make train` and `make test`.
# Both install what a fresh Debian machine lacks (run as root, or with sudo available).

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO ?= cargo

.PHONY: deps train test
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
