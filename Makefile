# pxnas_tf: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
ADB := /usr/bin/adb
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bazel-test clean

$(STAMP): setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

$(FMNIST):
	@echo "Installing Debian's dataset-fashion-mnist (Fashion-MNIST IDX files)"
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q dataset-fashion-mnist

$(ADB):
	@echo "Installing Debian's adb (the adb runner's tests run it with no phone attached)"
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q adb

install: $(STAMP) $(FMNIST) $(ADB)

## The main job.
demo: install
	$(VENV)/bin/pxnas demo

## The import contract (.importlinter: layers only point down), then the
## whole test suite (slow tests included): the tests that time models on
## this CPU (marker `timing`) run alone, after the others, which share the
## cores on two pytest-xdist workers.
test: install
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n 2 -m "not timing and not alone" $(PYTEST_ARGS)
	$(PY) -m pytest -q -m "timing or alone" $(PYTEST_ARGS)

## Without the tests marked slow.
test-fast: install
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n 2 -m "not slow and not timing and not alone" $(PYTEST_ARGS)
	$(PY) -m pytest -q -m "(timing or alone) and not slow" $(PYTEST_ARGS)

## Bazel (offline, Debian's Bazel 4): every test file is a py_test.
bazel-test: install
	bash tools/bazel_test.sh $(BAZEL_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
