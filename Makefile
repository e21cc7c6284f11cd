# avsc: two commands on a fresh machine
#   make book   the whole study on the synthetic demo set (or PARAMS=params/paper.yml DATA=/path/to/root)
#   make test   the test suite
PYTHON ?= python3
VENV ?= .venv
PARAMS ?= params/demo.yml
DATA ?=
OUT ?=
BIN := $(VENV)/bin
# The ImageNet VGG16 base shipped beside the project (offline stand-in for Places365), when present.
export AVSC_WEIGHTS_DIR ?= $(wildcard $(abspath ../shared/models))

.PHONY: book test venv clean help

help:
	@echo "make book   run the study (PARAMS=$(PARAMS)) and build the book"
	@echo "make test   run the test suite"

$(BIN)/avsc: pyproject.toml
	@bash scripts/setup_venv.sh "$(PYTHON)" "$(VENV)"
	@touch $@

venv: $(BIN)/avsc

book: venv
	$(BIN)/avsc run --params $(PARAMS) $(if $(DATA),--data $(DATA)) $(if $(OUT),--out $(OUT))
	$(BIN)/avsc book $(if $(OUT),--run $(OUT))

test: venv
	@bash scripts/ensure_chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf build book/_build
