"""The RTC launcher's logic that needs no GPU: the architecture it asks NVRTC for, the first
launch of each kernel under the lock, and freeing the modules at exit."""

import mxnet as mx
import pytest

from gluon_convattn.ops import kernel_spec, rtc

NVRTC_11_2 = [35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86]
NVRTC_11_8 = NVRTC_11_2 + [87, 89, 90]


@pytest.mark.parametrize('capability,supported,expected', [
    (90, NVRTC_11_8, 'compute_90'),     # H100/H200 with the [gpu] extra's NVRTC 11.8
    (90, NVRTC_11_2, 'compute_86'),     # ... with a CUDA 11.2 NVRTC: older PTX the driver JITs
    (89, NVRTC_11_8, 'compute_89'),
    (75, NVRTC_11_8, 'compute_75'),
    (61, NVRTC_11_8, 'compute_61'),
])
def test_the_newest_architecture_not_newer_than_the_device(capability, supported, expected):
    assert rtc.choose_arch(capability, supported) == expected


def test_a_device_older_than_every_architecture_is_refused():
    with pytest.raises(RuntimeError, match='sm_30'):
        rtc.choose_arch(30, NVRTC_11_8)


def test_the_environment_variable_chooses_the_architecture(monkeypatch):
    monkeypatch.setenv(rtc.ARCH_ENV_VAR, 'compute_75')
    assert rtc.arch_option(3) == '--gpu-architecture=compute_75'


class _Handle(object):
    """Stands in for an mx.rtc.CudaKernel: records whether each launch held the lock."""

    def __init__(self, lock):
        self.lock, self.locked = lock, []

    def launch(self, args, ctx, grid, block):
        self.locked.append(self.lock.locked())


def test_only_the_first_launch_of_a_kernel_on_a_device_holds_the_lock(monkeypatch):
    monkeypatch.setattr('atexit.register', lambda fn: None)
    launcher = rtc.RtcLauncher()
    kernel = kernel_spec.OPERATORS['subtraction'].forward
    handles = {}
    for device in (0, 1):
        handles[device] = _Handle(launcher._lock)
        launcher._kernels[(kernel.name, 'float32', device)] = handles[device]
    arrays = [mx.nd.zeros((1, 1, 3, 3)), mx.nd.zeros((1, 1, 9, 9))]
    ints = list(range(len(kernel_spec.GEOMETRY)))
    for device in (0, 0, 1, 0, 1):
        launcher.launch(kernel, 'float32', mx.gpu(device), arrays, ints)
    assert handles[0].locked == [True, False, False]
    assert handles[1].locked == [True, False]


def test_close_is_registered_at_exit_and_frees_everything(monkeypatch):
    registered = []
    monkeypatch.setattr('atexit.register', registered.append)
    launcher = rtc.RtcLauncher()
    assert registered == [launcher.close]
    launcher._kernels['k'], launcher._launched = object(), {'k'}
    launcher.close()
    assert not launcher._kernels and not launcher._launched and not launcher._modules
