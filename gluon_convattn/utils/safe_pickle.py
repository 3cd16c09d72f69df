"""Unpickling files without running anything they contain.

A pickle names the functions and classes that rebuild its objects, and ``pickle.load`` calls
them: a file can make it call ``os.system``. :class:`RestrictedUnpickler` resolves only the
globals of an allow-list; every other global becomes :class:`Inert`, which stores nothing and
runs nothing, and its name is recorded in ``replaced``.
"""
import pickle

__all__ = ['Inert', 'RestrictedUnpickler', 'restricted_unpickler']


class Inert(dict):
    """Stand-in for an object a file pickles but whose class is not allowed (a training config,
    a meter, an optimizer): it ignores its arguments, state and list items, and keeps only the
    dict items it is given (a state dict pickled as a dict subclass stays readable); none of its
    methods runs code from the file."""

    def __init__(self, *args, **kwargs):
        super(Inert, self).__init__()

    def __setstate__(self, state):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` answers ``allowed(module, name)``: the object to use,
    or None to put :class:`Inert` in its place (recorded in the class attribute ``replaced``)."""
    replaced = set()

    @staticmethod
    def allowed(module, name):
        return None

    def find_class(self, module, name):
        found = self.allowed(module, name)
        if found is None:
            self.replaced.add('%s.%s' % (module, name))
            return Inert
        return found


def restricted_unpickler(allowed):
    """A :class:`RestrictedUnpickler` subclass for ``allowed(module, name)`` with its own
    ``replaced`` set."""
    return type('RestrictedUnpickler', (RestrictedUnpickler,),
                {'allowed': staticmethod(allowed), 'replaced': set()})
