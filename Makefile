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

# The second emulator: LocalStack, in a virtual environment of its own (it pins libraries IRS pins otherwise).
LOCALSTACK := .venv-localstack
LOCALSTACK_STAMP := $(LOCALSTACK)/.installed
# Runs arm64 binaries (the Pi's test, which registers its binfmt_misc handler).
QEMU_ARM64 := /usr/bin/qemu-aarch64-static
# What runs against LocalStack too, so that no behaviour depends on one emulator's quirks.
SECOND_OPINION := tests/test_end_to_end.py tests/jobs/test_watch.py tests/broker/test_dead_letters_answered.py \
                  "tests/faults/test_faults.py::test_a_batch_in_flight_survives[SQS_THROTTLE-0.3]" \
                  "tests/faults/test_faults.py::test_an_outage_longer_than_the_tasks_patience_is_retried_by_celery_and_every_image_answered_once"

.PHONY: up test test-installers audit lock install lint bench clean localstack docs docs-serve

up: $(STAMP) $(if $(filter localstack,$(IRS_EMULATOR)),$(LOCALSTACK_STAMP))
	$(BIN)/irs up

# Test files run in parallel, TEST_WORKERS at a time (pytest-xdist), each worker with an emulator, queues and
# worker processes of its own; a file's tests stay together, on one worker, in order. Three on two cores: most of
# an integration test is waiting on workers and queues (on this project's 2-core machine: 376 s, against 482 s
# with two).
TEST_WORKERS ?= 3

# A worker that dies fails the run at once, naming its test (and what the kernel said of it, tests/conftest.py):
# pytest-xdist 3.8 replaces it, but under --dist loadfile the run can then wait forever for work it requeued.
# The Pi's test on arm64 binaries runs beside the parallel suite and the LocalStack stage, at the lowest CPU and
# I/O priority: its emulation takes minutes of both cores, which, at the same priority, starved the timing of
# tests beside it (a fault test ran past its limit); niced, it takes what the others leave idle. Its output
# comes last.
ARM64_LOG := artifacts/arm64-stage.log
test: $(STAMP) $(LOCALSTACK_STAMP) $(CHROMIUM) /usr/sbin/debootstrap $(QEMU_ARM64) docs
	mkdir -p artifacts
	nice -n 19 ionice -c 3 $(BIN)/pytest -p no:cacheprovider --durations=5 -m arm64 > $(ARM64_LOG) 2>&1 & arm64=$$!; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --max-worker-restart=0 --durations=25 -m "not arm64"; \
	suite=$$?; \
	IRS_EMULATOR=localstack $(BIN)/pytest -p no:cacheprovider $(SECOND_OPINION); second=$$?; \
	wait $$arm64; pi=$$?; echo "--- the Pi's arm64 stage, run beside them ---"; cat $(ARM64_LOG); \
	test $$suite -eq 0 -a $$second -eq 0 -a $$pi -eq 0

localstack: $(LOCALSTACK_STAMP)

$(LOCALSTACK_STAMP): requirements-localstack.txt
	$(PYTHON) -m venv $(LOCALSTACK)
	$(LOCALSTACK)/bin/pip install --quiet --upgrade pip
	$(LOCALSTACK)/bin/pip install --quiet -r requirements-localstack.txt
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends chromium

# Both installers, end to end, in a Debian root built with debootstrap (as root: it mounts and chroots), and the
# Pi's in an arm64 root run by qemu's user-mode emulation; part of `make test` too.
test-installers: $(STAMP) /usr/sbin/debootstrap $(QEMU_ARM64)
	$(BIN)/pytest -m installers tests/deploy/test_installers.py tests/edge/test_pi_on_arm.py

/usr/sbin/debootstrap:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends debootstrap

$(QEMU_ARM64):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends qemu-user-static

# checkov over the template, in a venv of its own (it pins libraries IRS pins otherwise).
AUDIT := .venv-audit
audit: $(AUDIT)/bin/checkov
	$(AUDIT)/bin/checkov -f deploy/irs.yaml --framework cloudformation --skip-download --compact

$(AUDIT)/bin/checkov:
	$(PYTHON) -m venv $(AUDIT)
	$(AUDIT)/bin/pip install --quiet checkov==3.3.30

# The installers' lock: requirements.txt's production pins and what they need, each file by its sha256.
lock: $(STAMP)
	PIP_CONSTRAINT= $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
		--no-emit-find-links -c requirements.txt -o deploy/requirements.lock pyproject.toml

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check irs webapp tests bench docs
	$(BIN)/mypy irs webapp

# The documentation site (MkDocs, Material theme) in build/site; strict: a broken link or anchor fails the build.
# Its reference pages (commands, settings, REST API, result document) are generated from the code (docs/hooks.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: $(STAMP)
	$(BIN)/python bench/throughput.py --json
	$(BIN)/python bench/autoscale.py --json
	$(BIN)/python bench/split.py --json
	$(BIN)/python bench/web.py --json

clean:
	rm -rf $(VENV) $(AUDIT) $(LOCALSTACK) .irs irs.env
