"""gluon_convattn: MXNet/Gluon ports of five convolution-meets-attention vision layers.

Installing also compiles the sliding-window kernels for the CPU (``build_ext`` runs
``gluon_convattn/ops/cpu_build.py``: the system C++ compiler with OpenMP). Without a compiler
the install still succeeds and the operators run their composite form on the CPU.
"""
import importlib.util
import os

from setuptools import Distribution, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def _cpu_build():
    path = os.path.join(HERE, 'gluon_convattn', 'ops', 'cpu_build.py')
    spec = importlib.util.spec_from_file_location('gluon_convattn_cpu_build', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildCpuKernels(build_ext):
    """Compile the kernel sources into ``gluon_convattn/ops/libgluon_convattn_cpu.so``, and
    where MXNet is installed its operators into ``libgluon_convattn_mxnet.so``."""

    def run(self):
        build_ext.run(self)
        cpu_build = _cpu_build()
        package_dir = os.path.join('gluon_convattn', 'ops')
        out_dir = package_dir if self.inplace else os.path.join(self.build_lib, package_dir)
        steps = [(cpu_build.build, 'WARNING: the CPU kernels were not built (%s); the operators '
                  'will run their composite form on the CPU. Build them later with '
                  '`python -m gluon_convattn.ops.cpu_build`.'),
                 # an isolated build environment has no MXNet; `make test` builds it afterwards
                 (cpu_build.build_extension, 'note: the MXNet operators were not built (%s); '
                  'the kernels run behind CustomOps until `python -m '
                  'gluon_convattn.ops.cpu_build` builds them.')]
        for step, failed in steps:
            try:
                print('built %s' % step(out_dir))
            except cpu_build.CompilerError as err:
                print(failed % err)
                return


class BinaryDistribution(Distribution):
    """The package carries a compiled library, so its wheel is platform-specific."""

    def has_ext_modules(self):
        return True


CUDA_RUNTIME = "nvidia-cuda-runtime-cu11==11.8.89"
NVRTC = "nvidia-cuda-nvrtc-cu11==11.8.89"

setup(
    name="gluon_convattn",
    version="0.1.0",
    description="Faithful MXNet/Gluon ports of ATAC, SAN, ACmix, KAConv and AT-kernel",
    packages=find_packages(include=["gluon_convattn", "gluon_convattn.*"]),
    package_data={"gluon_convattn.ops": ["kernels/*.cu", "kernels/*.h", "kernels/*.cuh",
                                        "kernels/cpu/*.h", "kernels/cpu/*.cc",
                                        "kernels/mxnet/*.h", "kernels/mxnet/*.cc"],
                  # shipped weights (sha256 in the model records) and their training logs
                  "gluon_convattn": ["weights/*.params", "weights/*.log"]},
    cmdclass={"build_ext": BuildCpuKernels},
    distclass=BinaryDistribution,
    python_requires=">=3.8",
    install_requires=[
        "numpy<1.24",  # MXNet 1.9 uses aliases (np.bool, np.int) removed in numpy 1.24
        "gluoncv==0.10.5.post0",
        "matplotlib",
        "scikit-learn",  # the embedded digits data set
    ],
    extras_require={
        "cpu": ["mxnet==1.9.1"],
        # mxnet-cu112 links against CUDA 11 libraries it does not ship; these wheels hold them
        # and gluon_convattn/cuda_libs.py loads them before MXNet (only the driver is the host's)
        "gpu": [
            "mxnet-cu112==1.9.1",
            CUDA_RUNTIME,
            "nvidia-cublas-cu11==11.11.3.6",
            "nvidia-cufft-cu11==10.9.0.58",
            "nvidia-curand-cu11==10.3.0.86",
            "nvidia-cusolver-cu11==11.4.1.48",
            NVRTC,
            "nvidia-cudnn-cu11==8.9.6.50",
            "nvidia-nccl-cu11==2.21.5",
            "nvidia-nvtx-cu11==11.8.86",
        ],
        # what tests/gpu needs on a GPU machine besides a CUDA PyTorch: CuPy for CUDA 11, which
        # finds NVRTC in the wheel once tests/gpu/gpu_kernels.py has loaded it
        "cupy": ["cupy-cuda11x==13.6.0", CUDA_RUNTIME, NVRTC],
        # torch reads upstream checkpoints in the converter tests; NVRTC 11 compiles the kernel
        # sources the way mx.rtc does on a GPU host (tests/ops/test_kernel_compile.py)
        # onnx: MXNet's exporter (mx.onnx, which uses onnx.mapping) and onnx.reference; 1.15.0
        # is the version tested with them and with numpy < 1.24
        "onnx": ["onnx==1.15.0", "protobuf>=3.20.2,<5"],
        # COCO-format data and GluonCV's COCO metric (scripts/*_faster_rcnn.py)
        "detection": ["pycocotools"],
        "test": ["pytest", "scikit-learn", "torch==2.13.0", NVRTC, "onnx==1.15.0",
                 "protobuf>=3.20.2,<5", "pycocotools"],
    },
)
