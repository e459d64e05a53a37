# Two commands on a fresh machine with Python 3.11+ and make:
#   make report   install into .venv, regenerate every figure (quick profile) into build/
#   make test     install into .venv, run the unit tests and the notebook smoke runs
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test unit notebooks report report-standard report-full bench lab clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: unit notebooks

unit: install
	$(PY) -m pytest -q tests

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
