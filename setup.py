"""gluon_convattn: MXNet/Gluon ports of five convolution-meets-attention vision layers."""
from setuptools import find_packages, setup

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
        "gpu": ["mxnet-cu112==1.9.1"],
        # torch reads upstream checkpoints in the converter tests; NVRTC 11 compiles the kernel
        # sources the way mx.rtc does on a GPU host (tests/ops/test_kernel_compile.py)
        "test": ["pytest", "scikit-learn", "torch==2.13.0", "nvidia-cuda-nvrtc-cu11==11.8.89",
                 "pycocotools"],
        # COCO-format data and GluonCV's COCO metric (scripts/*_faster_rcnn.py)
        "detection": ["pycocotools"],
    },
)
