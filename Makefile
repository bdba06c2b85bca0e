# The two set-up commands of the README: `make repro` (the pipeline on the embedded synthetic
# data) and `make test`. Each creates the virtual environment it needs on first use, with the exact
# versions of constraints.txt (docs/install.md).
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# Everything the pipeline, the tests and the Kaggle commands use; `pip install hms` alone is the library.
EXTRAS := pipeline,kaggle,wandb,dev
# Optional index for torch and torchvision, installed first (the constraints' versions), e.g. the
# PyTorch CPU wheels: make env TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# Extra pip arguments for `make lock`, e.g. LOCK_ARGS='-c old-freeze.txt' to keep versions you have.
LOCK_ARGS ?=
LOCK_REPORT := .lock-report.json

.PHONY: repro test env lock
env: $(VENV)/.installed

# Python caches the bytecode of each module on its first import (in the venv, and in the repo's
# __pycache__ folders, which git and DVC ignore). With PYTHONDONTWRITEBYTECODE set (as on the 2-core CI
# machine) it caches nothing, and every process, every DVC stage and test subprocess, recompiles torch,
# timm, pandas ... at start: up to 9 s each. So the recipes below let Python write its cache: only what is
# imported gets compiled, once. Later processes read the cache even with the variable set (docs/install.md).
unexport PYTHONDONTWRITEBYTECODE

# pip's own byte-compile pass would compile all 19,000 files of the environment on one core (45 s).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade -c constraints.txt pip
	$(if $(TORCH_INDEX),$(BIN)/pip install -q --no-compile -c constraints.txt --index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/pip install -q --no-compile -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

repro: $(VENV)/.installed
	PATH=$(BIN):$$PATH dvc repro

test: $(VENV)/.installed
	PATH=$(BIN):$$PATH pytest -q

# Re-resolve constraints.txt: the newest releases within pyproject.toml's ranges (what this
# platform's pip resolves; run on Linux x86_64 + the oldest supported Python). Review the diff.
lock:
	$(BIN)/pip install -q --dry-run --ignore-installed --report $(LOCK_REPORT) $(LOCK_ARGS) -e '.[$(EXTRAS)]'
	$(BIN)/python -c 'import json, platform, sys; \
	r = json.load(open(sys.argv[1])); \
	pins = sorted(((i["metadata"]["name"], i["metadata"]["version"]) for i in r["install"] if i["metadata"]["name"] != "hms"), key=lambda p: p[0].lower()); \
	print("# Exact versions for `make env` (pip install -c constraints.txt -e .[$(EXTRAS)]); regenerate with `make lock`."); \
	print(f"# Resolved on {platform.system()} {platform.machine()}, Python {platform.python_version()}; other platforms ignore pins they do not need."); \
	print("pip==" + __import__("pip").__version__); \
	[print(f"{n}=={v}") for n, v in pins]' $(LOCK_REPORT) > constraints.txt
	rm -f $(LOCK_REPORT)
	@echo "constraints.txt: $$(grep -c '==' constraints.txt) pins"
