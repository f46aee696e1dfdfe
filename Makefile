# sngan — the two commands of the README quick start are `make run` and `make test`.
SHELL   := /bin/bash
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
PIP     := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
STUDY   ?= runs/study-quick
PRESET  ?= quick

.PHONY: run test test-slow test-all bench bench-seeds tune lint install data clean chromium

# Create the virtual environment and install the package with its dev extras.
# constraints.txt pins torch to the CPU build (a bare `torch` pulls a multi-GB CUDA build).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e '.[dev]'
	@touch $@

install: $(STAMP)

data: $(STAMP)
	$(PY) -m sngan data mnist

# The main job: the comparison study on its default preset; prints where the report is.
run: data
	$(PY) -m sngan study --preset $(PRESET) --out $(STUDY) --progress

# The report test opens report.html in headless Chromium (Debian's package), installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (for the report test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Two pytest workers, one per core (pytest-xdist); an idle worker takes queued tests from the busy one.
test: $(STAMP) chromium
	$(PY) -m pytest -q -m "not slow" -n 2 --dist worksteal

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

test-all: $(STAMP)
	$(PY) -m pytest -q

# About 100 minutes on a 2-core CPU without native bf16, where emulated bf16 makes bench_precision slow (bench_quality alone:
# up to 30 minutes of training plus its evaluations, and it stops at the preset's end, 75,000 steps); results
# (JSON + Markdown) under benchmarks/results/.
bench: $(STAMP) data
	$(PY) benchmarks/bench_spectral.py --repeats 30 --json benchmarks/results/spectral.json
	$(PY) benchmarks/bench_spectral.py --repeats 15 --width 0.25 --json benchmarks/results/spectral-w025.json
	$(PY) benchmarks/bench_sn_drift.py --steps 40 --json benchmarks/results/sn-drift.json
	$(PY) benchmarks/bench_sn_drift.py --steps 40 --modes operator --solvers lanczos --iterations 4 --json benchmarks/results/sn-drift-lanczos4.json
	$(PY) benchmarks/bench_sn_drift.py --steps 40 --width 1 --modes certified --json benchmarks/results/sn-drift-w1.json
	$(PY) benchmarks/bench_sn_tracking.py --json benchmarks/results/sn-tracking.json
	cd benchmarks && ../$(PY) bench_train.py --repeats 10
	cd benchmarks && ../$(PY) bench_memory.py
	$(PY) benchmarks/bench_options.py --repeats 8
	$(PY) benchmarks/bench_precision.py --steps 3000
	$(PY) benchmarks/bench_precision.py --method gp --dataset ring8 --preset tuned --samples 2500 --seeds 0 1 --name precision-gp-ring8
	$(PY) benchmarks/bench_precision.py --method clip --dataset ring8 --preset tuned --samples 2500 --seeds 0 1 --name precision-clip-ring8
	$(PY) benchmarks/profile_step.py
	$(PY) benchmarks/profile_step.py --set sn_mode=operator --name profile-sn-fast-sn-operator
	$(PY) benchmarks/bench_widths.py
	$(PY) benchmarks/bench_quality.py --eval-every 3000
	$(PY) benchmarks/status.py

# Time to quality on two more seeds (about 35 minutes each): status.py then counts a goal as met only when
# seeds 0, 1 and 2 all meet it.
bench-seeds: $(STAMP) data
	$(PY) benchmarks/bench_quality.py --eval-every 3000 --set seed=1 --tag seed1
	$(PY) benchmarks/bench_quality.py --eval-every 3000 --set seed=2 --tag seed2
	$(PY) benchmarks/status.py

# Equal-effort tuning of the study's methods (about 50 minutes on 2 cores): writes
# src/sngan/study/tuning.json and benchmarks/results/tune.md; the chosen points go into TUNED (train/config.py).
tune: $(STAMP) data
	$(PY) benchmarks/tune.py

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
