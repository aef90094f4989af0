# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOME_DIR := $(CURDIR)/.audiences_home
# Test processes: each test makes its own store and database, so they run side by side.
TEST_WORKERS ?= 2

.PHONY: install demo ui sandbox test bench mutate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/audiences demo --home $(HOME_DIR)

ui: $(STAMP)
	@test -f $(HOME_DIR)/demo/audiences.yaml || (echo "run 'make demo' first" && exit 1)
	cd $(HOME_DIR) && DAGSTER_HOME=$(HOME_DIR)/dagster AUDIENCES_CONFIG=$(HOME_DIR)/demo/audiences.yaml \
		$(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p 3000

# Serves the demo's CRM sandbox again (same data) and prints the variables the CRM imports need in the UI.
sandbox: $(STAMP)
	@test -f $(HOME_DIR)/demo/crm_sandbox.db || (echo "run 'make demo' first" && exit 1)
	$(BIN)/audiences sandbox --db $(HOME_DIR)/demo/crm_sandbox.db

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# Mutation testing of one module or folder against the tests that reach it (its mirror folder, or T=...);
# K= narrows the tests like pytest -k (K="not postgresql": SQLite only), JOBS= caps the parallel mutants:
#   make mutate M=audiences_dagster/identity/normalize.py [T="audiences_dagster_tests/identity ..."] [K=...] [JOBS=1]
mutate: $(STAMP)
	@test -n "$(M)" || (echo "usage: make mutate M=audiences_dagster/<module>.py [T=<test paths>] [K=<pytest -k>] [JOBS=<n>]" && exit 2)
	MUTATE_K="$(K)" MUTATE_JOBS="$(JOBS)" $(BIN)/python -m audiences_dagster_tests.mutation $(M) $(T)

bench: $(STAMP)
	$(BIN)/python benchmarks/identity_bench.py

clean:
	rm -rf $(HOME_DIR) benchmarks/.data .mutants
