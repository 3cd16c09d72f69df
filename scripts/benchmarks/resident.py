"""Peak resident memory of a stretch of work in this process, above what it held before.

``ru_maxrss`` less ``ru_maxrss`` at the start undercounts when building the network left freed
memory inside the C allocator (the work reuses it unseen) or pushed the high-water mark above
what the process then held. :func:`start` therefore first hands the allocator's free memory
back to the system (glibc's ``malloc_trim``) and, on Linux, restarts the kernel's high-water
mark at the current resident size (``/proc/self/clear_refs``), so that :meth:`Meter.peak_mb` is
the peak during the work less the memory resident when it began. Where either is unavailable
it falls back to ``ru_maxrss`` differences. Imports neither mxnet nor torch.
"""
import ctypes
import ctypes.util
import resource

__all__ = ['start', 'Meter']

_STATUS = '/proc/self/status'


def _status_mb(key):
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in MiB, or None off Linux."""
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _trim_allocator():
    name = ctypes.util.find_library('c')
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)


def _reset_high_water_mark():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class Meter(object):
    """The peak since :func:`start`: ``peak_mb()`` in MiB above the resident memory then."""

    def __init__(self, exact, base):
        self.exact, self.base = exact, base

    def resident_mb(self):
        """The memory resident now less the base, in MiB; None off Linux."""
        now = _status_mb('VmRSS')
        return now - self.base if now is not None and self.exact else None

    def peak_mb(self):
        if self.exact:
            return _status_mb('VmHWM') - self.base
        return _max_rss_mb() - self.base


def start():
    """Settle the allocator, restart the high-water mark and return a :class:`Meter`.

    ``Meter.exact`` says whether the high-water mark could be restarted (else the peak is
    ``ru_maxrss`` growth, which misses work that fits under an earlier, higher mark)."""
    _trim_allocator()
    if _status_mb('VmRSS') is not None and _reset_high_water_mark():
        return Meter(True, _status_mb('VmRSS'))        # the base read after the reset
    return Meter(False, _max_rss_mb())
