"""Imports of the optional dependencies, with a message naming the extra to install."""
import importlib

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message says which extra installs it."""


def require(module, package, extra, needed_by):
    """Import `module`, or raise MissingExtraError naming the pip extra.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"skimage.data"``.
    package : str
        The distribution that provides it, e.g. ``"scikit-image"``.
    extra : str
        The pyx_cnn extra that installs `package`, e.g. ``"demo"``.
    needed_by : str
        What needs it, e.g. ``"pyx-cnn demo"``.

    Returns
    -------
    module : module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{needed_by} needs {package}, which is not installed: "
            f'pip install "pyx_cnn[{extra}]" (or pip install {package})'
        ) from exc
