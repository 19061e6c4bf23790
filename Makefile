# campus-hub: `make demo` runs the hub with simulated devices; `make test` runs lint, types and the whole suite.
# Both install what is missing first: a .venv with the project, and Mosquitto (test: also Chromium, VictoriaMetrics,
# ffmpeg) from apt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench system-deps test-deps clean

$(STAMP): pyproject.toml
	@$(PYTHON) scripts/check_python.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { scripts/system-deps.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

system-deps:
	@scripts/system-deps.sh mosquitto

# What only the tests need: the console's browser (and a Chinese font for its screenshots), a server for the
# InfluxDB write API, a camera stream source, real photographs for the picture-diagnosis set (3.7 MB).
test-deps:
	@scripts/system-deps.sh mosquitto chromium cjk-font victoria-metrics ffmpeg palapeli-data

demo: $(STAMP) system-deps
	$(BIN)/campus-hub demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) test-deps
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: $(STAMP) test-deps
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/alarm_latency.py
	$(BIN)/python bench/dc09_latency.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/console_feed.py
	$(BIN)/python bench/evidence.py
	$(BIN)/python bench/vqd.py
	$(BIN)/python bench/influx.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/artifacts
