"""Brian2 backends: one argument chooses where a simulation runs, and nothing leaks out.

neurolearn runs every Brian2 simulation inside :func:`use_backend`, which selects one of

``"numpy"``
    Brian2's runtime mode with NumPy code generation (no compiler needed; slowest).
``"cython"``
    Runtime mode with Cython code generation (compiled per code object, cached on disk).
``"cpp_standalone"``
    Brian2's C++ standalone device: the whole network becomes one C++ project that is compiled
    once and then run as a program (fastest on the CPU; compilation takes tens of seconds).
``"cuda_standalone"``
    brian2cuda's CUDA standalone device (Alevi, Stimberg, Sprekeler, Obermayer & Augustin
    2022, Front. Neuroinform. 16:883700): the same project for an NVIDIA GPU. The project is
    generated on any machine, compiled where ``nvcc`` exists and run where a GPU exists; see
    :mod:`neurolearn.brian.cuda` for the compiler set-up.

and restores Brian2's global state on exit, so that several simulations in one Python process
never influence each other. What is saved and restored:

* **preferences** (``brian2.prefs``): the code-generation target, compiler flags and
  brian2cuda's preferences are set inside the block and restored to their previous values;
* **device**: standalone simulations get a *private* ``CPPStandaloneDevice`` /
  ``CUDAStandaloneDevice`` instance (not Brian2's module-level singleton), activated with
  ``build_on_run=False``; on exit the previously active device (normally the runtime device)
  is reactivated. The private device keeps the compiled project, so a :class:`Backend` handle
  can run it again with new parameter values (Brian2's ``run_args``) without recompiling;
  :meth:`Backend.close` reinitialises it (freeing its memory);
* **default clock**: ``defaultclock.dt`` is restored to its value before the block;
* **scope**: ``start_scope()`` is called on entry, so Brian2's "magic" ``run()`` inside the
  block only sees objects created inside it.

Random numbers: ``seed`` seeds Brian2's generator of the chosen backend (for runtime backends
also NumPy's global generator, as :func:`brian2.seed` does). The same seed gives the same
spikes on the same backend; different backends draw different random numbers (Brian2 uses
NumPy's generator in runtime mode and its own in standalone mode).

Example
-------
>>> from brian2 import NeuronGroup, SpikeMonitor, Network, ms
>>> with use_backend("cpp_standalone", seed=1) as backend:      # doctest: +SKIP
...     G = NeuronGroup(10, "dv/dt = (1.1 - v)/(10*ms) : 1", threshold="v > 1",
...                     reset="v = 0", method="exact")
...     mon = SpikeMonitor(G)
...     net = Network(G, mon)
...     net.run(100 * ms)
...     backend.build_and_run()          # compile + run (standalone only; no-op at runtime)
...     print(mon.num_spikes)

Most users do not call this module directly: :class:`neurolearn.brian.network.NetworkSpec`
and ``neurolearn simulate`` use it.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..spec import ModelError

__all__ = [
    "BACKENDS",
    "RUNTIME_BACKENDS",
    "STANDALONE_BACKENDS",
    "Backend",
    "BackendUnavailableError",
    "check_backend",
    "use_backend",
    "build_standalone",
    "run_standalone",
]

#: Every backend name neurolearn accepts, in order of increasing set-up cost.
BACKENDS = ("numpy", "cython", "cpp_standalone", "cuda_standalone")
#: Backends running in Brian2's runtime mode (code generation per object, Python loop).
RUNTIME_BACKENDS = ("numpy", "cython")
#: Backends generating a standalone project (compiled once, run as a program).
STANDALONE_BACKENDS = ("cpp_standalone", "cuda_standalone")


class BackendUnavailableError(RuntimeError):
    """A backend cannot run on this machine (no compiler, no CUDA, no GPU...).

    The message says what is missing and what was done so far (e.g. where a generated CUDA
    project lies), and how to proceed.
    """


def check_backend(name: Any) -> str:
    """Return ``name`` if it is a known backend, else raise.

    Parameters
    ----------
    name : str
        One of :data:`BACKENDS`.

    Returns
    -------
    str

    Raises
    ------
    ModelError
        For an unknown name (a ``ValueError``); the message lists the valid ones.
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise ModelError(
            f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}", parameter="backend"
        )
    return name


def _snapshot_prefs() -> dict:
    from brian2 import prefs

    out = {}
    for key, value in prefs.prefs.items():
        try:
            out[key] = copy.deepcopy(value)
        except Exception:  # pragma: no cover - un-copyable preference values
            out[key] = value
    return out


def _restore_prefs(snapshot: Mapping) -> None:
    from brian2 import prefs

    for key in list(prefs.prefs):
        if key in snapshot:
            prefs.prefs[key] = copy.deepcopy(snapshot[key])
        else:
            # registered inside the block (e.g. by importing brian2cuda): back to its default
            basename, _, name = key.rpartition(".")
            try:
                prefs.prefs[key] = copy.deepcopy(prefs.pref_register[basename][0][name].default)
            except (KeyError, IndexError, AttributeError):  # pragma: no cover
                pass


class Backend:
    """Handle of a backend selected by :func:`use_backend`.

    Attributes
    ----------
    name : str
        One of :data:`BACKENDS`.
    device : brian2 Device
        The Brian2 device the objects were created on (the runtime device, or this handle's
        private standalone device).
    directory : Path or None
        Standalone project folder (None for runtime backends).
    seed : int or None
        Seed of the random number generator.
    built : bool
        Standalone project generated and compiled (``build_and_run`` or ``build`` done).
    timings : dict of str -> float
        Wall-clock seconds of the last ``build`` (``"build_s"``: code generation +
        compilation) and ``run`` (``"run_s"``: running the binary).
    """

    def __init__(
        self,
        name: str,
        device,
        directory: Path | None,
        seed: int | None,
        prefs_inside: dict,
        dt_inside,
    ):
        self.name = name
        self.device = device
        self.directory = directory
        self.seed = seed
        self.built = False
        self.compiled = False
        self.timings: dict[str, float] = {}
        self._prefs_inside = prefs_inside
        self._dt_inside = dt_inside
        self._closed = False

    @property
    def is_standalone(self) -> bool:
        """True for ``cpp_standalone`` and ``cuda_standalone``."""
        return self.name in STANDALONE_BACKENDS

    def __repr__(self) -> str:
        return (
            f"Backend({self.name!r}, directory={str(self.directory) if self.directory else None!r}, "
            f"seed={self.seed!r}, built={self.built})"
        )

    @contextlib.contextmanager
    def active(self) -> Iterator[Backend]:
        """Re-enter this backend: its device and preferences are active inside the block and
        the previous ones are restored afterwards.

        Used to run a built network again (runtime: another ``Network.run``; standalone:
        ``device.run`` with new ``run_args``) after the ``use_backend`` block has ended.

        Raises
        ------
        RuntimeError
            If the handle was closed.
        """
        from brian2 import defaultclock
        from brian2.devices.device import get_device, reset_device, set_device

        if self._closed:
            raise RuntimeError(f"backend {self.name!r} was closed; build the network again")
        saved = _snapshot_prefs()
        saved_dt = defaultclock.dt
        switched = get_device() is not self.device
        if switched:
            set_device(self.device, build_on_run=False)
        try:
            _restore_prefs(self._prefs_inside)
            defaultclock.dt = self._dt_inside
            yield self
        finally:
            if switched:
                reset_device()
            _restore_prefs(saved)
            defaultclock.dt = saved_dt

    def build_and_run(
        self,
        run_args: Mapping | None = None,
        compile: bool = True,
        run: bool = True,
        clean: bool = False,
    ) -> None:
        """Standalone: generate, compile and run the project (see :func:`build_standalone`).
        Runtime backends: nothing to do (``Network.run`` already ran)."""
        if self.is_standalone:
            build_standalone(self, run_args=run_args, compile=compile, run=run, clean=clean)

    def close(self, delete_directory: bool = False) -> None:
        """Free the private standalone device (``device.reinit()``); optionally delete the
        project folder. The Brian2 objects built on it can no longer be read afterwards."""
        if self._closed:
            return
        self._closed = True
        if self.is_standalone:
            try:
                self.device.reinit()
            except Exception:  # pragma: no cover - best effort
                pass
            if delete_directory and self.directory is not None:
                import shutil

                shutil.rmtree(self.directory, ignore_errors=True)


def _make_device(name: str):
    if name == "cpp_standalone":
        from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

        return CPPStandaloneDevice()
    if name == "cuda_standalone":
        try:
            import brian2cuda  # noqa: F401 - registers brian2cuda's preferences
            from brian2cuda.device import CUDAStandaloneDevice
        except ImportError as exc:
            raise BackendUnavailableError(
                "backend 'cuda_standalone' needs brian2cuda: pip install 'neurolearn[cuda]' "
                f"({exc})"
            ) from None
        return CUDAStandaloneDevice()
    from brian2.devices.device import runtime_device

    return runtime_device


@contextlib.contextmanager
def use_backend(
    name: str,
    directory: str | os.PathLike | None = None,
    seed: int | None = None,
    dt=None,
    prefs: Mapping[str, Any] | None = None,
    **device_options,
) -> Iterator[Backend]:
    """Select a Brian2 backend for the objects created inside the block.

    Parameters
    ----------
    name : str
        One of :data:`BACKENDS`: ``"numpy"``, ``"cython"``, ``"cpp_standalone"``,
        ``"cuda_standalone"``.
    directory : path, optional
        Standalone project folder (default: a new temporary folder). Ignored at runtime.
    seed : int, optional
        Seed of Brian2's random number generator (:func:`brian2.seed` at runtime,
        ``device.seed`` in standalone mode). None: unseeded.
    dt : Quantity, optional
        ``defaultclock.dt`` inside the block (default: the current one, normally 0.1 ms).
    prefs : mapping, optional
        Extra Brian2 preferences set inside the block, e.g.
        ``{"codegen.cpp.extra_compile_args_gcc": ["-O3"]}``. For ``cuda_standalone`` they are
        applied after :func:`neurolearn.brian.cuda.configure` (so they override it).
    **device_options
        Build options of the standalone device (``with_output``, ``debug``...), stored as
        Brian2's ``build_options``.

    Yields
    ------
    Backend
        Handle to build/run standalone projects and to re-enter the backend later.

    Raises
    ------
    ModelError
        Unknown backend name (lists the valid ones) or a bad seed.
    BackendUnavailableError
        ``cuda_standalone`` without brian2cuda installed.

    Notes
    -----
    On exit the previous device, preferences and ``defaultclock.dt`` are restored, whether the
    block ended normally or with an error. Standalone objects created inside the block stay
    attached to the handle's private device: build and run them with
    :meth:`Backend.build_and_run` (inside the block or later via :meth:`Backend.active`).
    """
    import brian2
    from brian2 import defaultclock, start_scope
    from brian2.devices.device import get_device, reset_device, set_device

    check_backend(name)
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) and not hasattr(seed, "__index__")
    ):
        raise ModelError(f"seed must be an integer or None, got {seed!r}", parameter="seed")
    if seed is not None:
        seed = int(seed)
        if seed < 0:
            raise ModelError(f"seed must be >= 0, got {seed}", parameter="seed")

    saved_prefs = _snapshot_prefs()
    saved_dt = defaultclock.dt
    saved_device = get_device()
    device = None
    switched = False
    try:
        device = _make_device(name)
        if name == "cuda_standalone":
            from . import cuda

            cuda.configure()
        if name in RUNTIME_BACKENDS:
            brian2.prefs["codegen.target"] = name
            if saved_device is not device:
                set_device(device)
                switched = True
        else:
            set_device(device, build_on_run=False, **device_options)
            switched = True
        for key, value in (prefs or {}).items():
            brian2.prefs[key] = value
        if dt is not None:
            defaultclock.dt = dt
        else:
            defaultclock.dt = saved_dt
        start_scope()
        if seed is not None:
            if name in RUNTIME_BACKENDS:
                brian2.seed(seed)
            else:
                device.seed(seed)
        proj = None
        if name in STANDALONE_BACKENDS:
            proj = (
                Path(directory)
                if directory is not None
                else Path(tempfile.mkdtemp(prefix=f"neurolearn_{name}_"))
            )
            proj = proj.resolve()
        handle = Backend(name, device, proj, seed, _snapshot_prefs(), defaultclock.dt)
        yield handle
    finally:
        if switched:
            reset_device()
        _restore_prefs(saved_prefs)
        if name == "cuda_standalone":
            try:  # brian2cuda caches what it detected under our preferences: forget it
                from brian2cuda.utils import gputools

                gputools.reset_cuda_installation()
                gputools.reset_gpu_selection()
            except ImportError:  # pragma: no cover
                pass
        try:
            defaultclock.dt = saved_dt
        except Exception:  # pragma: no cover
            pass


def build_standalone(
    backend: Backend,
    run_args: Mapping | None = None,
    compile: bool = True,
    run: bool = True,
    clean: bool = False,
) -> None:
    """Generate (and compile, and run) the standalone project of ``backend``.

    Call once, after every ``Network.run`` of the simulation was issued (Brian2 records the
    run calls in standalone mode; nothing is simulated before this call).

    Parameters
    ----------
    backend : Backend
        A ``cpp_standalone`` or ``cuda_standalone`` handle from :func:`use_backend`.
    run_args : mapping, optional
        Brian2 ``run_args`` of the first run: ``{group.variable: value}``.
    compile, run : bool
        Compile the project / run the binary after generating it.
    clean : bool
        Remove previous build products first (forces a full recompilation).

    Raises
    ------
    ValueError
        If ``backend`` is a runtime backend.
    BackendUnavailableError
        ``cuda_standalone``: no ``nvcc`` (project generated only) or no GPU (project generated
        and compiled, not run); the message gives the project folder.
    RuntimeError
        Brian2's compilation or run errors (the message gives the project folder).
    """
    if not backend.is_standalone:
        raise ValueError(f"build_standalone needs a standalone backend, got {backend.name!r}")
    if backend.built:
        raise RuntimeError(
            f"the {backend.name} project in {backend.directory} is already "
            f"built; run it again with run_standalone(backend, run_args)"
        )
    with backend.active():
        t0 = time.perf_counter()
        device = backend.device
        opts = dict(getattr(device, "build_options", {}) or {})
        with_output = bool(opts.pop("with_output", False))
        if backend.name == "cuda_standalone":
            from . import cuda

            cuda.build(
                backend,
                run_args=run_args,
                compile=compile,
                run=run,
                clean=clean,
                with_output=with_output,
                **opts,
            )
            return
        device.build(
            directory=str(backend.directory),
            compile=compile,
            run=False,
            clean=clean,
            with_output=with_output,
            direct_call=True,
            **opts,
        )
        backend.built = True
        backend.compiled = bool(compile)
        backend.timings["build_s"] = time.perf_counter() - t0
    if compile and run:
        run_standalone(backend, run_args)


def run_standalone(backend: Backend, run_args: Mapping | None = None) -> None:
    """Run an already compiled standalone project again, without recompiling.

    Parameters
    ----------
    backend : Backend
        A built ``cpp_standalone`` / ``cuda_standalone`` handle.
    run_args : mapping, optional
        ``{group.variable: value}`` (Brian2 ``run_args``): new values of variables set before
        the first run, e.g. per-neuron parameters. Scalars or arrays of the variable's size.

    Raises
    ------
    RuntimeError
        If the project was not built/compiled, or the program failed.
    BackendUnavailableError
        ``cuda_standalone`` on a machine without a GPU.
    """
    if not backend.is_standalone:
        raise ValueError(f"run_standalone needs a standalone backend, got {backend.name!r}")
    if not backend.built or not backend.compiled:
        raise RuntimeError(
            f"the {backend.name} project is not compiled yet; call build_standalone first"
        )
    if backend.name == "cuda_standalone":
        from . import cuda

        cuda.require_gpu(backend.directory)
    with backend.active():
        t0 = time.perf_counter()
        backend.device.run(
            directory=str(backend.directory),
            with_output=False,
            run_args=dict(run_args) if run_args else None,
        )
        backend.timings["run_s"] = time.perf_counter() - t0
