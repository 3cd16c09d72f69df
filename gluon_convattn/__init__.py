"""gluon_convattn: MXNet/Gluon ports of ATAC, SAN, ACmix, KAConv and AT-kernel.

Import it before ``mxnet`` (or GluonCV): with the CUDA build of MXNet it first makes the CUDA 11
libraries of the ``[gpu]`` extra's wheels loadable (:mod:`gluon_convattn.cuda_libs`).
"""
from . import cuda_libs

cuda_libs.preload()

__version__ = '0.1.0'
