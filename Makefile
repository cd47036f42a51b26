# The two set-up commands of the README. Both create (or reuse) the virtual environment .venv.
#   make leaderboard   install, run the default (quick) leaderboard, print it
#   make test          install, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A known-good torch: on these machines torch==2.13.0 is a CPU wheel already on disk.
TORCH ?= torch==2.13.0
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# test processes (pytest-xdist: whole modules per process, in the order tests/conftest.py gives them)
TEST_WORKERS ?= 2
STAMP := $(VENV)/.featbench-installed

.PHONY: install leaderboard test benchmark mutation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

leaderboard: $(STAMP)
	$(BIN)/featbench run --profile quick --jobs $(JOBS)
	$(BIN)/featbench leaderboard --profile quick --print

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

benchmark: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-columns=min,mean,max,rounds

# Mutation testing of the modules behind published numbers (slow; not part of CI). MODULES=selection,... picks.
MODULES ?=
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[mutation]"
	nice $(BIN)/python tools/mutation.py $(subst $(comma), ,$(MODULES))

comma := ,

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks .mutation
