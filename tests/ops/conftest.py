import pytest

from gluon_convattn.ops import cpu_kernels, custom, emulation


@pytest.fixture(scope='session')
def emulated_library(tmp_path_factory):
    """The kernels compiled for the CPU with g++ (once per test session)."""
    return emulation.build(str(tmp_path_factory.mktemp('emulated_kernels')))


class RecordingLauncher(object):
    """Passes launches on to ``launcher`` and records the names of the kernels launched."""

    def __init__(self, launcher):
        self.launcher, self.dtypes, self.launched = launcher, launcher.dtypes, []

    def launch(self, kernel, dtype, ctx, arrays, ints):
        self.launched.append(kernel.name)
        self.launcher.launch(kernel, dtype, ctx, arrays, ints)


@pytest.fixture
def emulated_kernels(emulated_library):
    """Within the test, CPU kernel graphs run the emulated kernels through the CustomOps; the
    fixture's value records which kernels ran."""
    launcher = RecordingLauncher(emulation.EmulatedLauncher(emulated_library))
    with custom.use_launcher('cpu', launcher):
        yield launcher


@pytest.fixture
def openmp_kernels():
    """Within the test, CPU kernel graphs run the production OpenMP library (built by the
    install step); the fixture's value records which kernels ran."""
    launcher = RecordingLauncher(cpu_kernels.launcher())
    with custom.use_launcher('cpu', launcher):
        yield launcher
