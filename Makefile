# Two entry points (see README): `make demo` runs the main job on the embedded synthetic
# dataset, `make test` runs the test suite. Both create .venv and install l3net into it.
# Optional: `make hear-check` runs the HEAR project's validator on l3net.hear (needs PyTorch,
# installed into a separate environment), `make wheel` builds the wheel into dist/.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test install clean hear-check wheel

install: $(VENV)/.installed

$(VENV)/.installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,beam]'
	touch $@

demo: install
	$(BIN)/l3net_demo --workdir=runs/demo

test: install
	$(BIN)/ruff check . && $(BIN)/python -m pytest -q tests

wheel: install
	$(BIN)/pip wheel --no-deps -w dist .

# hear-validator (PyPI: hearvalidator) imports both TensorFlow and PyTorch. Its environment sees
# .venv's packages and this checkout (a .pth file) and adds PyTorch and the validator, so
# TensorFlow is not installed twice. PyPI's Linux torch pulls in CUDA libraries (gigabytes): set
# TORCH to a CPU wheel or requirement if you have one (e.g. TORCH=/path/torch-X+cpu-....whl).
# HEAR_MODELS: export or model directories to validate (default: two small random-init models).
HEAR_VENV ?= build/hear-venv
TORCH ?= torch
HEAR_MODELS ?=

$(HEAR_VENV)/.installed: $(VENV)/.installed
	$(BIN)/python -m venv $(HEAR_VENV)
	$(BIN)/python -c 'import sysconfig; print("$(CURDIR)"); print(sysconfig.get_paths()["purelib"])' \
		> "$$($(HEAR_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/l3net_main_venv.pth"
	$(HEAR_VENV)/bin/pip install -q $(TORCH)
	$(HEAR_VENV)/bin/pip install -q --no-deps --ignore-requires-python hearvalidator==2021.0.6
	touch $@

hear-check: $(HEAR_VENV)/.installed
	$(HEAR_VENV)/bin/python tests/hear_check.py $(HEAR_MODELS)

clean:
	rm -rf $(VENV) runs build/hear-venv build/hear-check

# System packages of the real-audio probe set (data_tools/real_audio; Debian/Ubuntu): fluidsynth, the
# FluidR3 General MIDI SoundFont and espeak-ng, through apt-get (with sudo unless run as root; on a
# fresh system run `sudo apt-get update` first). Without them `make demo` skips that stage.
.PHONY: real-audio-deps
real-audio-deps:
	@command -v apt-get >/dev/null || { echo "real-audio-deps: no apt-get here; install fluidsynth," \
	  "a General MIDI SoundFont (FluidR3_GM.sf2) and espeak-ng with this system's package manager" >&2; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo )apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng
