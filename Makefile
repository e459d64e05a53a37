# Two commands on a fresh machine with Python 3.11+ and make:
#   make report   install into .venv, regenerate every figure (quick profile) into build/
#   make test     install into .venv, run the unit tests (those that depend on the Keras backend on JAX too)
#                 and the notebook smoke runs; KERAS_BACKEND=jax make test runs all of them on JAX
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test unit unit-jax notebooks report report-standard report-full bench lab clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: unit unit-jax notebooks

unit: install
	$(PY) -m pytest -q tests

# The unit tests whose code runs on the Keras backend (autodiff, training, callbacks, checkpoints, seeding),
# run again on JAX; the rest (claims, statistics, plots, data, the report's machinery) is NumPy and runs once.
BACKEND_TESTS := tests/test_backend.py tests/test_batches.py tests/test_callbacks.py tests/test_checkpoints.py \
	tests/test_ensemble.py tests/test_landscape.py tests/test_loss.py tests/test_matching.py tests/test_measures.py \
	tests/test_models.py tests/test_order.py tests/test_plateaus.py tests/test_run.py

unit-jax: install
ifeq ($(KERAS_BACKEND),jax)
	@echo "unit-jax: KERAS_BACKEND=jax, so make unit ran every unit test on JAX already"
else
	KERAS_BACKEND=jax $(PY) -m pytest -q $(BACKEND_TESTS)
endif

# The smoke profile is set by conftest.py, not by a flag.
notebooks: install
	$(PY) -m pytest -q --nbval-lax notebooks/

report: install
	$(PY) -m hwutils.report --profile quick

# The report's datasets at an hour's scale (MNIST, CIFAR-10 on disk: see data/README.md); WORKERS=2 runs two
# notebooks at once.
report-standard: install
	$(PY) -m hwutils.report --profile standard $(if $(WORKERS),--workers $(WORKERS))

report-full: install
	$(PY) -m hwutils.report --profile full

bench: install
	$(PY) benchmarks/tiny_nets.py
	$(PY) benchmarks/hessian.py
	$(PY) benchmarks/stacked_cnn.py

lab: install
	# "Run all" in JupyterLab then takes minutes, not hours: the quick profile is preset.
	HWUTILS_PROFILE=quick $(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build
