# Two commands on a fresh machine with Python 3.11+ and make:
#   make report   install into .venv, regenerate every figure (quick profile) into build/
#   make test     install into .venv, run the unit tests (those that depend on the Keras backend on JAX too)
#                 and the notebook smoke runs; KERAS_BACKEND=jax make test runs all of them on JAX
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install install-gpu gpu-wheels gpu-run test unit unit-jax notebooks report report-standard report-full bench lab clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# On a GPU machine: the CUDA wheels of the Keras backend in use ($KERAS_BACKEND, else tensorflow), at the
# version installed; CUDA=13 for JAX's CUDA 13 wheels.
BACKEND := $(or $(KERAS_BACKEND),tensorflow)
CUDA ?= 12
install-gpu: install
ifeq ($(BACKEND),jax)
	$(PY) -m pip install --quiet "jax[cuda$(CUDA)]==$$($(PY) -c 'import jax; print(jax.__version__)')"
else
	$(PY) -m pip install --quiet "tensorflow[and-cuda]==$$($(PY) -c 'import tensorflow as tf; print(tf.__version__)')"
endif

# What benchmarks/gpu_run.sh needs on a GPU machine that has Python $(GPU_PYTHON), JAX, NumPy, SciPy,
# scikit-learn, pandas, matplotlib, seaborn, h5py, psutil, tqdm and PyYAML but no network: Keras and the
# notebook runner, as wheels in .whl/ (git-ignored; about 20 MB, within the 64 MiB a device run carries).
GPU_PYTHON ?= 3.12
GPU_WHEELS := keras==3.15.1 namex==0.1.0 optree==0.20.0 papermill==2.7.0 nbformat==5.11.1 nbclient==0.11.0 \
	ipykernel==7.4.0 ipython==9.18.1 ipython_pygments_lexers==1.1.1 jupyter_client==8.10.0 jupyter_core==5.9.1 \
	traitlets==5.16.1 pyzmq==27.3.0 tornado==6.6.1 comm==0.2.3 debugpy==1.8.22 matplotlib_inline==0.2.2 \
	nest_asyncio2==1.7.4 jedi==0.20.1 parso==0.8.7 pexpect==4.9.0 ptyprocess==0.7.0 prompt_toolkit==3.0.53 \
	wcwidth==0.9.4 stack_data==0.6.3 executing==2.3.0 asttokens==3.0.2 pure_eval==0.2.4 platformdirs==4.14.9 \
	fastjsonschema==2.22.3 jsonschema==4.26.0 jsonschema_specifications==2025.9.1 referencing==0.37.0 \
	rpds_py==2026.9.1 entrypoints==0.4.2 tenacity==9.2.1 tzdata==2026.6
gpu-wheels: install
	rm -rf .whl
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl $(GPU_WHEELS)
	du -sh .whl

# The GPU script on this machine, small: it runs everywhere; on a GPU machine run benchmarks/gpu_run.sh itself.
gpu-run: install
	GPU_RUN_SIZE=small PYTHON=$(PY) bash benchmarks/gpu_run.sh

test: unit unit-jax notebooks

unit: install
	$(PY) -m pytest -q tests

# The unit tests whose code runs on the Keras backend (autodiff, training, callbacks, checkpoints, seeding),
# run again on JAX; the rest (claims, statistics, plots, data, the report's machinery) is NumPy and runs once.
BACKEND_TESTS := tests/test_backend.py tests/test_batches.py tests/test_callbacks.py tests/test_checkpoints.py \
	tests/test_ensemble.py tests/test_landscape.py tests/test_loss.py tests/test_matching.py tests/test_measures.py \
	tests/test_models.py tests/test_order.py tests/test_plateaus.py tests/test_run.py tests/test_vectorized.py

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
