# The two commands of the quick start:
#   make up     set everything up, then run the whole local stack until Ctrl-C
#   make test   set everything up, then run the test suite
# Both create .venv and install requirements.txt and IRS into it on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The project's shared models and photos, when this checkout sits beside them.
SHARED := $(abspath ../shared)
export IRS_MODEL_DIR   ?= $(if $(wildcard $(SHARED)/models),$(SHARED)/models)
export IRS_DEMO_IMAGES ?= $(if $(wildcard $(SHARED)/images),$(SHARED)/images)

# The browser test drives Debian's chromium; it is installed once, as root or through sudo.
CHROMIUM := /usr/bin/chromium
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: up test install lint bench clean

up: $(STAMP)
	$(BIN)/irs up

test: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends chromium

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check irs webapp tests bench
	$(BIN)/mypy irs webapp

bench: $(STAMP)
	$(BIN)/python bench/throughput.py --json
	$(BIN)/python bench/autoscale.py --json
	$(BIN)/python bench/split.py --json
	$(BIN)/python bench/web.py --json

clean:
	rm -rf $(VENV) .irs irs.env
