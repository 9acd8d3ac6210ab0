# Entry points: `make ci` runs every gate on this repository (the sample app), `make test` runs
# the kit's own test suite. Both set up what they need first: .venv at the repository root with
# the kit and its pinned tools, the pinned Allure CLI in node_modules, a container engine and a
# base image for the sample app's Dockerfile.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The Dockerfile's default base image; ensure-base-image.sh falls back to a local build when no
# registry answers and prints the image to use on its last line.
BASE_IMAGE ?= python:3.12-slim
SCRIPTS := ci/gauntlet/scripts
GAUNTLET_ARGS ?=
PYTEST_ARGS ?=

export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: ci test setup venv allure engine test-deps lint-workflows clean

ci: setup
	@base_image=$$(bash $(SCRIPTS)/ensure-base-image.sh $(BASE_IMAGE) | tail -n 1) && \
	GAUNTLET_IMAGE_BUILD_ARGS="BASE_IMAGE=$$base_image" \
	GAUNTLET_DAST_BUILD_ARGS="BASE_IMAGE=$$base_image" \
	$(BIN)/gauntlet run $(GAUNTLET_ARGS)

test: setup test-deps
	@base_image=$$(bash $(SCRIPTS)/ensure-base-image.sh $(BASE_IMAGE) | tail -n 1) && \
	GAUNTLET_TEST_BASE_IMAGE="$$base_image" $(BIN)/python -m pytest $(PYTEST_ARGS)

setup: venv allure engine

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[tools,app,dev]'
	@touch $@

allure: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

engine:
	@bash $(SCRIPTS)/ensure-engine.sh

# Debian packages that only the test suite needs: a loopback registry for the Trivy DB mirror
# test and mmdebstrap for the local base image.
test-deps:
	@bash $(SCRIPTS)/ensure-test-deps.sh

clean:
	-$(BIN)/gauntlet clean
	rm -rf reports
