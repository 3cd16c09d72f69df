"""Networks, one file per family, and the GluonCV-style registry."""
from .model_zoo import get_model, get_model_info, get_model_list, register_model  # noqa: F401
from . import atac, san, acmix, kaconv, atkernel, pvt, detection  # noqa: F401  (registers the families)
