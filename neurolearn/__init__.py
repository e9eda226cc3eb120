"""neurolearn: spiking neuron and synapse models written as Brian2 equations, simulated by
Brian2 code generation (CPU and GPU), trained as differentiable PyTorch models with surrogate
gradients, and compared with biological data.

Data flow: model spec (:mod:`neurolearn.spec`) -> Brian2 (:mod:`neurolearn.brian`) or torch
(:mod:`neurolearn.torch`) -> results -> analysis (:mod:`neurolearn.analysis`) -> figures
(:mod:`neurolearn.figures`).
"""

import warnings as _warnings

# setuptools' distutils shim warns on every Brian2 import; it is not ours to fix.
_warnings.filterwarnings("ignore", message="_get_vc_env is private")

from .spec import (  # noqa: E402 - after the warning filter
    InputModel,
    ModelError,
    ModelSpec,
    NeuronModel,
    Parameter,
    SynapseModel,
    list_models,
    load_model,
    parse_quantity,
)

__version__ = "0.1.0"


def _install_excepthook() -> None:
    """Print uncaught errors raised by neurolearn itself plainly.

    Importing Brian2 replaces ``sys.excepthook`` with a handler that calls every uncaught
    exception "an unexpected error" of Brian 2, asks for a bug report and writes a debug log
    into the temporary folder. For neurolearn's own errors (a model file, a configuration or
    a parameter at fault, named in the message) that is misleading, so errors whose
    innermost frame lies in neurolearn go to Python's default handler; everything else, in
    particular the errors raised inside Brian2, still goes to the handler installed before.
    Brian2 is imported lazily (by neurolearn's functions or by the user, before or after
    neurolearn), so the wrapper is (re)installed right after Brian2's import too.
    """
    import os
    import sys

    previous = sys.excepthook
    if getattr(previous, "_neurolearn", False):
        return
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep

    def hook(exc_type, exc, tb):
        last = tb
        while last is not None and last.tb_next is not None:
            last = last.tb_next
        where = os.path.abspath(last.tb_frame.f_code.co_filename) if last is not None else ""
        if where.startswith(package):
            sys.__excepthook__(exc_type, exc, tb)
        else:
            previous(exc_type, exc, tb)

    hook._neurolearn = True
    sys.excepthook = hook
    if "brian2" not in sys.modules:
        _after_brian2_import(_install_excepthook)


def _after_brian2_import(callback) -> None:
    """Call ``callback()`` once, right after the module ``brian2`` has been executed by a
    later import (a finder at the front of ``sys.meta_path`` that wraps the ``exec_module``
    of the loader the other finders return for ``brian2``, then removes itself)."""
    import importlib.abc
    import importlib.util
    import sys

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname != "brian2":
                return None
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            loader = getattr(spec, "loader", None)
            if loader is None or not hasattr(loader, "exec_module"):
                return spec
            original = loader.exec_module

            def exec_module(module):
                try:
                    original(module)
                finally:
                    del loader.exec_module  # back to the class's method
                callback()

            loader.exec_module = exec_module
            return spec

    if not any(
        isinstance(f, importlib.abc.MetaPathFinder)
        and type(f).__name__ == "_Finder"
        and type(f).__module__ == __name__
        for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _Finder())


_install_excepthook()

__all__ = [
    "ModelError",
    "ModelSpec",
    "NeuronModel",
    "SynapseModel",
    "InputModel",
    "Parameter",
    "load_model",
    "list_models",
    "parse_quantity",
    "__version__",
]
