# Two commands for a newcomer: `make demo` and `make test`. Both create/refresh .venv from pyproject.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JIXIAO_HOME ?= $(CURDIR)/var
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jixiao demo

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf var out demo_region
