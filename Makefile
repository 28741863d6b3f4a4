# biostress: the two commands of the README.
#   make demo   set up (first time) and run the demo on the sample city Dordrecht
#   make test   set up (first time) and run the tests (ruff + pytest)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test setup lint bench reference clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "biostress needs Python >= 3.11")'
	bash scripts/install_system_deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/biostress demo --out biostress-demo --overwrite

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# reference implementations for the validation tests (not runtime dependencies): natcap.invest 3.20
reference: $(STAMP)
	bash scripts/install_reference_tools.sh $(VENV)

bench: $(STAMP)
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) biostress-demo .pytest_cache .ruff_cache
