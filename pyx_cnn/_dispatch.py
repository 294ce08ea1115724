"""Arrays of other libraries sent to the module that implements pyx_cnn's API for them.

The core works on NumPy arrays and imports no other array library. A public
function or method decorated with :func:`dispatch` looks at the type of its
array argument first: when that type belongs to a package listed in
:data:`PROVIDERS`, the call goes, with the same arguments, to the function of
the same name in that package's pyx_cnn module, imported then (and only then)::

    pyx_cnn.conv(dask_array, w)  ->  pyx_cnn.dask_arrays.conv(dask_array, w)
    net.predict(dask_array)      ->  pyx_cnn.dask_arrays.predict(net, dask_array)

The answer is remembered per type, so a NumPy array costs one dictionary
look-up. A provider module has a function ``handles(x)`` (True for the arrays
it takes) and one function per decorated name.
"""
import functools
import importlib
import inspect

__all__ = ["PROVIDERS", "register", "provider_for", "dispatch"]

#: top-level package of an array type -> the pyx_cnn module implementing the API for it
PROVIDERS = {"dask": "pyx_cnn.dask_arrays"}

_by_type = {}   # type -> provider module, or None for a type the core handles itself


def register(package, module):
    """Send arrays whose type lives in `package` to the pyx_cnn module named `module`."""
    PROVIDERS[package] = module
    _by_type.clear()


def provider_for(x):
    """The module implementing pyx_cnn's API for the type of `x`, or None (NumPy and
    anything else the core takes as it is)."""
    cls = type(x)
    try:
        return _by_type[cls]
    except KeyError:
        pass
    module = None
    name = PROVIDERS.get(cls.__module__.partition(".")[0])
    if name is not None:
        candidate = importlib.import_module(name)
        if candidate.handles(x):
            module = candidate
    _by_type[cls] = module
    return module


def dispatch(*names):
    """Decorator: when the argument named one of `names` is an array of a registered
    library, call that library's implementation of the same name instead.

    Parameters
    ----------
    *names : str
        Parameters of the decorated function to look at, in order (a method's
        ``self`` excluded: it is passed on as the implementation's first argument).
    """
    def decorate(func):
        parameters = list(inspect.signature(func).parameters)
        slots = [(parameters.index(name), name) for name in names]
        attribute = func.__name__

        @functools.wraps(func)
        def run(*args, **kwargs):
            for index, name in slots:
                value = args[index] if index < len(args) else kwargs.get(name)
                module = _by_type.get(type(value), _UNKNOWN)
                if module is _UNKNOWN:
                    module = provider_for(value)
                if module is not None:
                    return getattr(module, attribute)(*args, **kwargs)
            return func(*args, **kwargs)

        return run

    return decorate


_UNKNOWN = object()
