"""Gluon HybridBlocks, one file per idea."""
from .atac import *  # noqa: F401,F403  ChaATAC
from .san import *  # noqa: F401,F403  SAM, SANBottleneck
from .acmix import *  # noqa: F401,F403  ACmix
from .kaconv import *  # noqa: F401,F403  KAConv, AGL, AGH
from .atkernel import *  # noqa: F401,F403  ATKernel
from .position import position_grid  # noqa: F401
