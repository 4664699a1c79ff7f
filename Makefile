# One-command set-up of aiida-mlipgen on a Debian/Ubuntu machine.
#   make install   system packages, .venv, CPU torch, the package (idempotent)
#   make setup     AiiDA profile $(PROFILE), localhost computer, codes, pseudo family, daemon
#   make test      the test suite (its own temporary profile; PYTEST_ARGS=... to pass options)
#   make demo      examples/demo_silicon.py on profile $(PROFILE)
# Variables: PROFILE (default mlipgen), SETUP_ARGS (e.g. --no-daemon), PYTEST_ARGS, VENV, PYTHON.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PROFILE ?= mlipgen
SETUP_ARGS ?=
PYTEST_ARGS ?=
# Recipes see the virtual environment first on PATH (verdi for the daemon, console scripts for tests).
export PATH := $(abspath $(VENV))/bin:$(PATH)
export VENV PYTHON

.PHONY: install setup test demo docs

install:
	@bash setup_profiles/install.sh

setup: install
	@bash setup_profiles/setup_local.sh $(PROFILE) $(SETUP_ARGS)

test: install
	$(VENV)/bin/pytest -x -q tests $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/verdi -p $(PROFILE) run examples/demo_silicon.py

docs: install
	$(VENV)/bin/pip install -q -e '.[docs]'
	$(VENV)/bin/sphinx-build -b html docs docs/_build/html
