# Two entry points (see README): `make demo` runs the main job on the embedded synthetic
# dataset, `make test` runs the test suite. Both create .venv and install l3net into it.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test install clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: install
	$(BIN)/l3net_demo --workdir=runs/demo

test: install
	$(BIN)/ruff check . && $(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) runs
