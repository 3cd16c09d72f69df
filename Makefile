# Two commands do everything on a fresh machine:
#   make run    installs the package (CPU MXNet) and trains cifar_resnet20_v2_atac on the digits set
#   make test   installs the package with the test extras and runs the test suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP = $(VENV)/.installed-$(1)
# onnxruntime needs numpy >= 1.24 and MXNet 1.9 numpy < 1.24: the ONNX tests run it from here
ONNX_VENV := .venv-onnx
ONNX_STAMP := $(ONNX_VENV)/.installed

.PHONY: run test test-slow benchmark

$(call STAMP,cpu): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[cpu]"
	touch $@

$(call STAMP,test): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[cpu,test]"
	touch $@

$(ONNX_STAMP): Makefile
	test -x $(ONNX_VENV)/bin/python || $(PYTHON) -m venv $(ONNX_VENV)
	$(ONNX_VENV)/bin/python -m pip install -q "onnxruntime==1.23.2" "numpy>=1.24,<3"
	touch $@

$(ONNX_VENV): $(ONNX_STAMP)

run: $(call STAMP,cpu)
	$(PY) scripts/train_cifar.py --model cifar_resnet20_v2_atac --dataset digits --save-dir runs/digits

test: $(call STAMP,test) $(ONNX_STAMP)
	$(PY) -m pytest -q tests

test-slow: $(call STAMP,test) $(ONNX_STAMP)
	$(PY) -m pytest -q -m slow tests

benchmark: $(call STAMP,cpu)
	$(PY) scripts/benchmark.py
