# Two entry points (see README): `make demo` runs the recipe, `make test` runs the tests.
# Both create and reuse the virtual environment $(VENV) with the pinned dependency set.
PYTHON ?= python3
VENV ?= .venv
C := requirements/constraints.txt
STAMP := $(VENV)/.installed
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: venv system-deps demo test clean-venv

venv: $(STAMP)

# Debian packages for offline speech (espeak-ng, sox; Pico/MBROLA voices if available).
system-deps:
	bash tools/install_system_deps.sh

# openai-whisper 20230124's setup.py imports pkg_resources, so it is built without
# build isolation against the venv's pinned setuptools (requirements/constraints.txt).
$(STAMP): $(C) requirements/runtime.txt setup.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c $(C) setuptools wheel
	$(PIP) install -q -c $(C) -r requirements/runtime.txt
	$(PIP) install -q -c $(C) --no-build-isolation openai-whisper
	$(PIP) install -q -c $(C) --no-build-isolation --no-deps -e .
	$(PIP) check
	touch $(STAMP)

# The recipe on its embedded default: synthetic CS corpus + offline Whisper base (CPU).
demo: venv system-deps
	cd egs2/cs_unseen/asr1 && ./run.sh

test: venv system-deps
	$(VENV)/bin/python -m pytest -q tests $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
