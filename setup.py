"""gluon_convattn: MXNet/Gluon ports of five convolution-meets-attention vision layers."""
from setuptools import find_packages, setup

CUDA_RUNTIME = "nvidia-cuda-runtime-cu11==11.8.89"
NVRTC = "nvidia-cuda-nvrtc-cu11==11.8.89"

setup(
    name="gluon_convattn",
    version="0.1.0",
    description="Faithful MXNet/Gluon ports of ATAC, SAN, ACmix, KAConv and AT-kernel",
    packages=find_packages(include=["gluon_convattn", "gluon_convattn.*"]),
    package_data={"gluon_convattn.ops": ["kernels/*.cu", "kernels/*.h", "kernels/*.cuh"]},
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
        "test": ["pytest", "scikit-learn", "torch==2.13.0", NVRTC],
    },
)
