# omni_ros: two commands on a fresh machine.
#   make demo   set everything up, then run the main job headless
#   make test   set everything up, then run the test suite
# Set-up is idempotent: a second run with nothing changed takes seconds.
#   make setup TORCH_INDEX_URL=default|URL   where torch comes from (tools/bootstrap.py)

PYTHON ?= $(firstword $(foreach p,python3.11 python3.12 python3.10 python3,$(shell command -v $(p) 2>/dev/null)))
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
export TORCH_INDEX_URL

.PHONY: setup test test-fast demo doctor bench model lock check-lock clean

setup:
	@test -n "$(PYTHON)" || { echo "No python3 found: install CPython 3.10-3.12 (3.11 preferred)."; exit 1; }
	@$(PYTHON) tools/bootstrap.py

test: setup check-lock
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/omni-ros demo

doctor: setup
	$(VENV)/bin/omni-ros doctor

bench: setup
	$(VENV)/bin/omni-ros bench --suite pipeline --markdown bench/RESULTS.md --json bench/pipeline.json --plot bench/pipeline_latency.png
	$(VENV)/bin/omni-ros bench --suite live --speak --markdown bench/live.md --json bench/live.json
	$(VENV)/bin/omni-ros bench --suite speech --markdown bench/speech.md --json bench/speech.json
	$(VENV)/bin/omni-ros bench --suite voices --quick --raw build/voices/whisper_silero_quick.pkl --markdown bench/voices.md --json bench/voices.json
	$(VENV)/bin/omni-ros bench --suite voices --quick --backend pocketsphinx --vad energy --raw build/voices/pocketsphinx_energy_quick.pkl --markdown bench/voices_pocketsphinx.md --json bench/voices_pocketsphinx.json
	$(VENV)/bin/omni-ros bench --suite replies --markdown bench/replies.md --json bench/replies.json
	$(VENV)/bin/omni-ros bench --suite echo --markdown bench/echo.md --json bench/echo.json
	$(VENV)/bin/omni-ros bench --suite transport --markdown bench/transport.md --json bench/transport.json
	$(VENV)/bin/omni-ros bench --suite tiers --markdown bench/tiers.md --json bench/tiers.json
	$(VENV)/bin/omni-ros bench --suite federated --markdown bench/federated.md --json bench/federated.json
	$(VENV)/bin/omni-ros bench --suite sim --markdown bench/sim.md --json bench/sim.json
	$(VENV)/bin/omni-ros bench --suite model --markdown bench/model.md --json bench/model.json
	$(VENV)/bin/omni-ros bench --suite realtime --markdown bench/realtime.md --json bench/realtime.json
	$(VENV)/bin/omni-ros bench --suite roi --markdown bench/roi.md --json bench/roi.json
	$(VENV)/bin/omni-ros bench --suite thermal --markdown bench/thermal.md --json bench/thermal.json
	$(VENV)/bin/omni-ros bench --suite reliability --markdown bench/reliability.md --json bench/reliability.json
	$(VENV)/bin/omni-ros bench --suite language --markdown bench/language.md --json bench/language.json
	$(VENV)/bin/omni-ros bench --suite cells --markdown bench/cells.md --json bench/cells.json

model: setup
	tools/train_model.sh

# requirements/lock/py3.X.txt for every supported Python, resolved by uv from the public index.
lock: setup
	$(PY) tools/lock.py

# Dry run, public index only: each lock resolves for its Python (names the pin that does not).
check-lock: setup
	$(PY) tools/lock.py --check

clean:
	rm -rf build .pytest_cache
