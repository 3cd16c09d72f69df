# Two commands do everything on a fresh machine:
#   make run    installs the package (CPU MXNet) and trains cifar_resnet20_v2_atac on the digits set
#   make test   installs the package with the test extras and runs the test suite
# and for the GPU build (see README, "GPU"):
#   make test-gpu-build   CI's second job: mxnet-cu112 in .venv-gpu, on a stand-in driver
#   make gpu-check        on a GPU host: kernels against composite, training steps, benchmarks
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP = $(VENV)/.installed-$(1)
# onnxruntime needs numpy >= 1.24 and MXNet 1.9 numpy < 1.24: the ONNX tests run it from here
ONNX_VENV := .venv-onnx
ONNX_STAMP := $(ONNX_VENV)/.installed

GPU_VENV := .venv-gpu
GPU_PY := $(GPU_VENV)/bin/python
NO_DEVICE_DRIVER := build/no-device-driver

.PHONY: run test test-slow benchmark test-gpu-build gpu-check

$(call STAMP,cpu): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[cpu]"
	$(PY) gluon_convattn/ops/cpu_build.py
	touch $@

$(call STAMP,test): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[cpu,test]"
	$(PY) gluon_convattn/ops/cpu_build.py
	touch $@

$(ONNX_STAMP): Makefile
	test -x $(ONNX_VENV)/bin/python || $(PYTHON) -m venv $(ONNX_VENV)
	$(ONNX_VENV)/bin/python -m pip install -q "onnxruntime==1.23.2" "numpy>=1.24,<3"
	touch $@

$(ONNX_VENV): $(ONNX_STAMP)

run: $(call STAMP,cpu)
	$(PY) scripts/train_cifar.py --model cifar_resnet20_v2_atac --dataset digits --save-dir runs/digits --overwrite

test: $(call STAMP,test) $(ONNX_STAMP)
	$(PY) -m pytest -q tests

test-slow: $(call STAMP,test) $(ONNX_STAMP)
	$(PY) -m pytest -q -m slow tests

benchmark: $(call STAMP,cpu)
	$(PY) scripts/benchmark.py

# The venv is reused until setup.py changes; pip's cache (when the index allows it) keeps the
# ~3 GB of CUDA wheels between fresh venvs.
$(GPU_VENV)/.installed-gpu: setup.py
	test -x $(GPU_PY) || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_PY) -m pip install -q -e ".[gpu,test]"
	$(GPU_PY) gluon_convattn/ops/cpu_build.py
	touch $@

# No GPU needed: a stand-in libcuda.so.1 that reports no device, then the GPU-build checks
# (tests/gpu_build) and the CPU suite on the CUDA build of MXNet.
test-gpu-build: $(GPU_VENV)/.installed-gpu
	$(GPU_PY) tests/gpu_build/no_device_driver.py $(NO_DEVICE_DRIVER)
	LD_LIBRARY_PATH=$(CURDIR)/$(NO_DEVICE_DRIVER) $(GPU_PY) -m pytest -q -m "not slow and not gpu" tests

gpu-check: $(GPU_VENV)/.installed-gpu
	$(GPU_PY) scripts/gpu_check.py
