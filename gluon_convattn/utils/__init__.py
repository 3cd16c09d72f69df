"""Parameter counting, checked loading, golden fixtures and input checks."""
from .params import ParamsMismatchError, count_params, load_parameters_checked, param_shapes
from .golden import relative_error, seeded_input, seeded_state_dict
