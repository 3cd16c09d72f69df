"""Parameter counting, checked loading and input checks."""
from .params import ParamsMismatchError, count_params, load_parameters_checked, param_shapes
