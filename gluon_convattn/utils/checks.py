"""Input checks that stop bad input before it reaches MXNet with a message naming the fix."""
import mxnet as mx
import numpy as np

__all__ = ['check_odd', 'check_array', 'check_layer_input', 'check_image_batch',
           'check_fixed_image_batch', 'check_positive_int', 'check_int_list', 'check_divisible',
           'check_choice', 'check_float16_on_cpu', 'check_context_dtype', 'first_line',
           'FLOAT16_ON_CPU']

FLOAT16_ON_CPU = ('needs a GPU: MXNet has no float16 convolution on the CPU, nor the '
                  'sliding-window operators a float16 CPU kernel')


def check_array(x, what, float16_on_cpu=False):
    """Raise ValueError unless ``x`` is an NDArray that MXNet can run ``what`` on: a float
    array (float16 only on a GPU, unless ``float16_on_cpu``: the caller decides) with a
    non-empty batch axis. Returns False for a Symbol (hybridized graph construction, not
    checked), True otherwise.

    A numpy array, a list or an int32 NDArray would otherwise fail deep inside MXNet, and a
    float16 array on the CPU later still, inside an unrelated call.
    """
    if isinstance(x, mx.sym.Symbol):
        return False
    if not isinstance(x, mx.nd.NDArray):
        raise ValueError('%s takes an mx.nd.NDArray, got a %s.%s; convert it with '
                         'mx.nd.array(x)' % (what, type(x).__module__, type(x).__name__))
    dtype = np.dtype(x.dtype)
    if dtype.kind != 'f':
        raise ValueError('%s takes floating-point input (float32, or float16 on a GPU), got %s; '
                         'convert it with x.astype("float32")' % (what, dtype.name))
    if not float16_on_cpu:
        check_float16_on_cpu(dtype, x.context, '%s: float16 input' % what)
    if x.ndim and x.shape[0] == 0:
        raise ValueError('%s got an empty batch (shape %s); pass at least one sample'
                         % (what, tuple(x.shape)))
    return True


def check_layer_input(x, layer, channels):
    """Raise ValueError unless ``x`` (an NDArray; Symbols pass) is an (N, ``channels``, H, W)
    batch for ``layer`` (its name and arguments, for the message)."""
    if check_array(x, layer) and (x.ndim != 4 or x.shape[1] != channels):
        raise ValueError('%s takes a batch of shape (N, %d, H, W), got %s'
                         % (layer, channels, tuple(x.shape)))


def check_image_batch(x, model, min_size, channels=3, works='224x224'):
    """Raise ValueError unless ``x`` is an (N, channels, H, W) float batch with H, W >=
    ``min_size`` (see :func:`check_array` for the type checks, float16 on the CPU included).

    ``x`` may be a Symbol (hybridized graph construction), which is not checked.
    """
    if not check_array(x, model):
        return
    shape = x.shape
    if len(shape) != 4 or shape[1] != channels:
        raise ValueError('%s takes a batch of shape (N, %d, H, W), got %s'
                         % (model, channels, tuple(shape)))
    if shape[2] < min_size or shape[3] < min_size:
        raise ValueError('%s needs inputs of at least %dx%d (e.g. %s), got %dx%d'
                         % (model, min_size, min_size, works, shape[2], shape[3]))


def check_fixed_image_batch(x, model, size, channels=3):
    """Raise ValueError unless ``x`` is an (N, channels, size, size) batch: for networks whose
    token grids are fixed at construction (``img_size``). Symbols are not checked."""
    check_image_batch(x, model, size, channels=channels, works='%dx%d' % (size, size))
    if isinstance(x, mx.nd.NDArray) and tuple(x.shape[2:]) != (size, size):
        raise ValueError('%s was built for %dx%d inputs (its token grids are fixed at '
                         'construction), got %dx%d; resize the input or build the model with '
                         'img_size=%d' % (model, size, size, x.shape[2], x.shape[3],
                                          x.shape[2]))


def check_positive_int(value, name, minimum=1):
    """Raise ValueError naming ``name`` unless ``value`` is an int >= ``minimum`` (not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError('%s must be an int >= %d, got %r' % (name, minimum, value))


def check_odd(value, name):
    """Raise ValueError naming ``name`` unless ``value`` is odd (a window needs a centre)."""
    if value % 2 == 0:
        raise ValueError('%s must be odd (the window needs a centre tap), got %r'
                         % (name, value))


def check_int_list(value, length, name, minimum=1):
    """Return ``value`` as a list, raising ValueError naming ``name`` unless it is a list or
    tuple of ``length`` ints (not bools) >= ``minimum``."""
    if (not isinstance(value, (list, tuple)) or len(value) != length
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum
                       for v in value)):
        raise ValueError('%s must be a list of %d ints >= %d, got %r'
                         % (name, length, minimum, value))
    return list(value)


def check_divisible(value, divisor, what, of):
    """Raise ValueError unless ``value`` (named ``of``) is divisible by ``divisor`` (``what``)."""
    if divisor <= 0 or value % divisor:
        raise ValueError('%s=%r must divide %s=%r' % (what, divisor, of, value))


def check_choice(value, choices, name):
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError('%s must be one of %s, got %r' % (name, ', '.join(map(repr, choices)),
                                                          value))


def check_float16_on_cpu(dtype, ctx, subject,
                         fix="cast to float32 on the CPU (x.astype('float32')) or use a GPU"):
    """The one float16-on-the-CPU rule: raise ValueError ``'<subject> needs a GPU: ...; <fix>'``
    when ``dtype`` is float16 and ``ctx`` a CPU context."""
    if np.dtype(dtype) == np.float16 and ctx.device_type == 'cpu':
        raise ValueError('%s %s; %s' % (subject, FLOAT16_ON_CPU, fix))


def check_context_dtype(ctx_list, dtype):
    """Raise ValueError when ``dtype`` is float16 and one of ``ctx_list`` is a CPU."""
    for ctx in ctx_list:
        check_float16_on_cpu(dtype, ctx, 'dtype float16', 'use float32 on the CPU, or GPUs')


def first_line(err):
    """The first line of an exception's message that says what went wrong, for one-line errors
    that quote MXNet or torch: MXNet's "Traceback (most recent call last):" and ``File ...``
    lines (C++ frames) are skipped, and its "MXNetError: " prefix dropped. An empty message
    gives the exception's type name."""
    for line in str(err).splitlines():
        line = line.strip()
        if not line or line.startswith(('Traceback (most recent call last)', 'File "')):
            continue
        return line[len('MXNetError: '):] if line.startswith('MXNetError: ') else line
    return type(err).__name__
