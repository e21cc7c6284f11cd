# avsc: two commands on a fresh machine
#   make book   the whole study on the synthetic demo set (or PARAMS=params/paper.yml DATA=/path/to/root)
#   make test   the test suite
#   make lab    JupyterLab on notebooks/ with the project's environment (kernel python3 of .venv)
# GPU=1 installs TensorFlow's CUDA build instead of tensorflow-cpu; BACKEND=jax runs on Keras' JAX backend.
PYTHON ?= python3
VENV ?= .venv
GPU ?=
BACKEND ?=
FLAVOR := $(if $(GPU),gpu,cpu)
PARAMS ?= params/demo.yml
DATA ?=
OUT ?=
BIN := $(VENV)/bin
# The ImageNet VGG16 base shipped beside the project (offline stand-in for Places365), when present.
export AVSC_WEIGHTS_DIR ?= $(wildcard $(abspath ../shared/models))

.PHONY: book test lab venv clean help

help:
	@echo "make book   run the study (PARAMS=$(PARAMS)) and build the book"
	@echo "make test   run the test suite"
	@echo "make lab    open the notebooks in JupyterLab (each runs top to bottom on its own)"

ifneq ($(BACKEND),)
export KERAS_BACKEND := $(BACKEND)
endif

# The stamp names the flavour installed, so that GPU=1 on a CPU environment reinstalls TensorFlow.
$(VENV)/.installed-$(FLAVOR): pyproject.toml
	@bash scripts/setup_venv.sh "$(PYTHON)" "$(VENV)" $(FLAVOR)
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(VENV)/.installed-$(FLAVOR)

book: venv
	$(BIN)/avsc run --params $(PARAMS) $(if $(DATA),--data $(DATA)) $(if $(OUT),--out $(OUT))
	$(BIN)/avsc book $(if $(OUT),--run $(OUT))

# lint-imports checks the layer contract of pyproject.toml ([tool.importlinter]) before the tests.
test: venv
	@bash scripts/ensure_chromium.sh
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The kernel "python3" of the venv (scripts/setup_venv.sh installs it there) before any of the user's own.
lab: venv
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ARGS)

clean:
	rm -rf build book/_build
