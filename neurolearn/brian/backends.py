"""Brian2 backends: one argument chooses where a simulation runs, and nothing leaks out.

Every backend is one entry of :data:`BACKEND_TABLE` (as Brian2's devices are entries of
``brian2.devices.device.all_devices``), and every list of names (:data:`BACKENDS`,
:data:`RUNTIME_BACKENDS`, :data:`STANDALONE_BACKENDS`, error messages, command-line choices)
derives from it:

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

Adding a backend is one :class:`BackendInfo` entry: its mode, its code-generation target or
device factory, its preferences, its build step and what it needs to run.

Every simulation runs inside :func:`use_backend`, which restores Brian2's global state on
exit, so that several simulations in one Python process never influence each other. What is
saved and restored:

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

Running: :meth:`Backend.run` is the one place that owns the runtime/standalone difference, and
every part of neurolearn that runs a Brian2 network ends with it. Runtime backends run
``Network.run``; standalone backends record the run, generate and compile the project once,
run the program, and later calls run the compiled program again with new ``run_args``.

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
...     backend.run(net, 100 * ms)       # runtime: Network.run; standalone: build and run
...     print(mon.num_spikes)

Most users do not call this module directly: :class:`neurolearn.brian.network.NetworkSpec`
and ``neurolearn simulate`` use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..spec import ModelError
from . import cuda, progress, projects
from .errors import BackendUnavailableError, reraise_brian_errors
from .prefs_state import restore_prefs as _restore_prefs
from .prefs_state import snapshot_prefs as _snapshot_prefs

__all__ = [
    "BackendInfo",
    "BACKEND_TABLE",
    "BACKENDS",
    "RUNTIME_BACKENDS",
    "STANDALONE_BACKENDS",
    "Backend",
    "BackendUnavailableError",
    "backend_info",
    "check_backend",
    "check_can_run",
    "use_backend",
    "build_standalone",
    "run_standalone",
]


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
def _runtime_device():
    from brian2.devices.device import runtime_device

    return runtime_device


def _cpp_device():
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    return CPPStandaloneDevice()


def _configure_cpp() -> None:
    """Compile a C++ standalone project with as many parallel ``make`` jobs as this process
    may use CPUs. Brian2's default, ``make -j`` without a number, starts one compiler per
    source file at once (load averages of 50 on a 2-core machine); a preference the user set
    to anything else is left alone."""
    from brian2 import prefs

    key = "devices.cpp_standalone.extra_make_args_unix"
    if list(prefs[key]) == ["-j"]:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n = os.cpu_count() or 1
        prefs[key] = [f"-j{n}"]


def _build_cpp(backend: Backend, compile: bool, clean: bool, with_output: bool, **opts) -> None:
    """Generate (and compile) a C++ standalone project: ``device.build`` without running."""
    t0 = time.perf_counter()
    backend.device.build(
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


def _build_cuda(backend: Backend, compile: bool, clean: bool, with_output: bool, **opts) -> None:
    """Generate (and compile where nvcc exists) a CUDA project (:func:`cuda.build`)."""
    cuda.build(backend, compile=compile, run=False, clean=clean, with_output=with_output, **opts)


def _has_compiler() -> bool:
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


#: What a backend may need, and how to check that this machine has it.
_REQUIREMENTS: dict[str, Callable[[], bool]] = {
    "C++ compiler": _has_compiler,
    "Cython": lambda: importlib.util.find_spec("Cython") is not None,
    "brian2cuda": lambda: importlib.util.find_spec("brian2cuda") is not None,
    "nvcc": lambda: cuda.nvcc_path() is not None,
    "NVIDIA GPU": lambda: cuda.gpu_available(),
}


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    """One Brian2 backend: how to select it, build for it and run on it.

    Attributes
    ----------
    name : str
    mode : {"runtime", "standalone"}
        Runtime: Brian2 generates and runs code per object from Python (``Network.run`` runs
        the simulation). Standalone: ``Network.run`` is recorded, the whole simulation becomes
        one project that is built once and run as a program, again with new ``run_args``.
    description : str
    device : callable () -> brian2 Device
        The device the objects are created on: Brian2's runtime device, or a new private
        standalone device for each :func:`use_backend` block.
    codegen_target : str or None
        Runtime mode: Brian2's ``codegen.target`` preference (``"numpy"``, ``"cython"``).
    configure : callable () -> Any, optional
        Sets the backend's preferences inside :func:`use_backend` (after which the block's
        own ``prefs`` apply), e.g. :func:`neurolearn.brian.cuda.configure`.
    build : callable ``(backend, compile, clean, with_output, **options)``, optional
        Standalone mode: generates (and with ``compile`` compiles) the project of a
        :class:`Backend`, setting its ``built``/``compiled`` flags and ``timings``; never
        runs it.
    before_run : callable (directory), optional
        Standalone mode: raises :class:`BackendUnavailableError` if the program cannot run on
        this machine (e.g. :func:`neurolearn.brian.cuda.require_gpu`).
    on_exit : callable (), optional
        Called when a :func:`use_backend` block ends (forgets what was detected under the
        block's preferences).
    needs_to_build, needs_to_run : tuple of str
        What this machine needs to build the project (or compile the code objects) and to
        run the program; keys of the requirement checks, see :meth:`missing`.
    """

    name: str
    mode: str
    description: str
    device: Callable[[], Any]
    codegen_target: str | None = None
    configure: Callable[[], Any] | None = None
    build: Callable[..., None] | None = None
    before_run: Callable[[Any], None] | None = None
    on_exit: Callable[[], None] | None = None
    needs_to_build: tuple[str, ...] = ()
    needs_to_run: tuple[str, ...] = ()

    @property
    def is_standalone(self) -> bool:
        """True for backends that build a standalone project."""
        return self.mode == "standalone"

    def missing(self, run: bool = True) -> list[str]:
        """What this machine lacks to build (and, with ``run``, to run) on this backend,
        e.g. ``["nvcc", "NVIDIA GPU"]``; empty if nothing is missing."""
        needs = self.needs_to_build + (self.needs_to_run if run else ())
        return [need for need in needs if not _REQUIREMENTS[need]()]


#: Every backend, by name, in order of increasing set-up cost (as Brian2's ``all_devices``).
BACKEND_TABLE: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo(
            "numpy",
            "runtime",
            "Brian2 runtime mode, NumPy code generation (no compiler needed)",
            device=_runtime_device,
            codegen_target="numpy",
        ),
        BackendInfo(
            "cython",
            "runtime",
            "Brian2 runtime mode, Cython code generation (compiled per code object)",
            device=_runtime_device,
            codegen_target="cython",
            needs_to_build=("Cython", "C++ compiler"),
        ),
        BackendInfo(
            "cpp_standalone",
            "standalone",
            "Brian2's C++ standalone device: one C++ project, compiled once, run as a program",
            device=_cpp_device,
            configure=_configure_cpp,
            build=_build_cpp,
            needs_to_build=("C++ compiler",),
        ),
        BackendInfo(
            "cuda_standalone",
            "standalone",
            "brian2cuda's CUDA standalone device: generated anywhere, compiled with nvcc, "
            "run on an NVIDIA GPU (Alevi et al. 2022)",
            device=cuda.make_device,
            configure=cuda.configure,
            build=_build_cuda,
            before_run=cuda.require_gpu,
            on_exit=cuda.forget_detection,
            needs_to_build=("brian2cuda", "C++ compiler", "nvcc"),
            needs_to_run=("NVIDIA GPU",),
        ),
    )
}
#: Every backend name neurolearn accepts, in order of increasing set-up cost.
BACKENDS = tuple(BACKEND_TABLE)
#: Backends running in Brian2's runtime mode (code generation per object, Python loop).
RUNTIME_BACKENDS = tuple(n for n, b in BACKEND_TABLE.items() if not b.is_standalone)
#: Backends generating a standalone project (compiled once, run as a program).
STANDALONE_BACKENDS = tuple(n for n, b in BACKEND_TABLE.items() if b.is_standalone)


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
    if not isinstance(name, str) or name not in BACKEND_TABLE:
        raise ModelError(
            f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}", parameter="backend"
        )
    return name


def backend_info(name: Any) -> BackendInfo:
    """The table entry of a backend.

    Raises
    ------
    ModelError
        For an unknown name (lists the valid ones).
    """
    return BACKEND_TABLE[check_backend(name)]


def check_can_run(name: Any) -> None:
    """Raise at once, before any code is generated or compiled, if a program of backend
    ``name`` cannot run on this machine (``cuda_standalone`` without an NVIDIA GPU).

    Raises
    ------
    BackendUnavailableError
        Names what is missing and how to run elsewhere (generate the project here with
        ``execute=False`` into a kept folder, run ``./main`` there, read the results back).
    ModelError
        Unknown backend name.
    """
    missing = [need for need in backend_info(name).needs_to_run if not _REQUIREMENTS[need]()]
    if missing:
        raise BackendUnavailableError(
            f"{name}: this machine has no {' and no '.join(missing)}, so the program cannot "
            "run here; nothing was generated or compiled. Choose 'cpp_standalone' to run on "
            "the CPU, or generate the project into a kept folder without running it (Python: "
            "directory=DIR, execute=False; `neurolearn evaluate RUN --build-dir DIR "
            "--generate-only`), run ./main in it on a GPU machine and read the results back "
            "(`neurolearn evaluate RUN --from-build DIR`)"
        )


# ---------------------------------------------------------------------------------------------
# The handle
# ---------------------------------------------------------------------------------------------
class Backend:
    """Handle of a backend selected by :func:`use_backend`.

    Attributes
    ----------
    name : str
        One of :data:`BACKENDS`.
    info : BackendInfo
        Its table entry.
    device : brian2 Device
        The Brian2 device the objects were created on (the runtime device, or this handle's
        private standalone device).
    directory : Path or None
        Standalone project folder (None for runtime backends).
    temporary : bool
        The project folder is a temporary one made by :func:`use_backend` (no ``directory``
        given): removed by :meth:`close`, when the ``use_backend`` block fails, and at the
        latest when the handle is garbage-collected (:mod:`neurolearn.brian.projects`).
    seed : int or None
        Seed of the random number generator.
    built : bool
        Standalone project generated (``build`` or the first ``run`` done).
    compiled : bool
        Standalone project compiled.
    timings : dict of str -> float
        Wall-clock seconds of the last ``build`` (``"build_s"``: code generation +
        compilation; ``"generate_s"`` for CUDA) and of running the program (``"run_s"``).
    """

    def __init__(
        self,
        name: str,
        device,
        directory: Path | None,
        seed: int | None,
        prefs_inside: dict,
        dt_inside,
        temporary: bool = False,
    ):
        self.name = name
        self.info = BACKEND_TABLE[name]
        self.device = device
        self.directory = directory
        self.temporary = bool(temporary and directory is not None)
        self._remove = (
            weakref.finalize(self, projects.remove_project, str(directory))
            if self.temporary
            else None
        )
        self.seed = seed
        self.built = False
        self.compiled = False
        self.timings: dict[str, float] = {}
        self._prefs_inside = prefs_inside
        self._dt_inside = dt_inside
        self._closed = self._announced = False

    @property
    def is_standalone(self) -> bool:
        """True for ``cpp_standalone`` and ``cuda_standalone``."""
        return self.info.is_standalone

    def __repr__(self) -> str:
        return (
            f"Backend({self.name!r}, directory={str(self.directory) if self.directory else None!r}, "
            f"seed={self.seed!r}, built={self.built})"
        )

    @contextlib.contextmanager
    def active(self) -> Iterator[Backend]:
        """Re-enter this backend: its device and preferences are active inside the block and
        the previous ones are restored afterwards.

        Used to run a built network again or read its monitors after the ``use_backend``
        block has ended.

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
        if switched:  # Brian2's activate() replaces build_options: pass the device's own
            options = dict(getattr(self.device, "build_options", None) or {})
            set_device(self.device, build_on_run=False, **options)
        try:
            _restore_prefs(self._prefs_inside)
            defaultclock.dt = self._dt_inside
            yield self
        finally:
            if switched:
                reset_device()
            _restore_prefs(saved)
            defaultclock.dt = saved_dt

    # --- running ------------------------------------------------------------------------
    def run(
        self,
        network,
        duration,
        *,
        run_args: Mapping | None = None,
        namespace: Mapping | None = None,
        report=None,
        compile: bool = True,
        execute: bool = True,
        clean: bool = False,
        level: int = 0,
    ) -> None:
        """Run a Brian2 network on this backend: the one place that owns the difference
        between runtime and standalone mode.

        Parameters
        ----------
        network : brian2.Network
            Built on this backend (inside its :func:`use_backend` block).
        duration : Quantity
            Simulated time.
        run_args : mapping, optional
            ``{group.variable: value}``: values set before the simulation starts. Runtime:
            assigned to the variables, then ``Network.run``. Standalone: Brian2's ``run_args``
            of the program (applied where the program calls ``device.apply_run_args()``, at
            its start otherwise), no recompilation.
        namespace : mapping, optional
            Namespace of ``Network.run`` (None: the caller's locals and globals, as Brian2).
        report : optional
            Progress report of ``Network.run``.
        compile, execute : bool
            Standalone, first call: compile the generated project / run the program (False:
            e.g. a CUDA project generated for another machine, or a build to run later with
            ``run_args``). Ignored at runtime.
        clean : bool
            Standalone, first call: remove earlier build products first.
        level : int
            How many frames above the caller to take the namespace from (``namespace=None``).

        Notes
        -----
        Runtime: every call runs ``network`` for ``duration`` more (continuing from its current
        state; use ``Network.store``/``restore`` to start again). Standalone: the first call
        records ``Network.run`` and builds the project (code generation and compilation,
        ``timings["build_s"]``) and runs the program (``timings["run_s"]``); later calls run
        the compiled program again from ``t = 0`` with new ``run_args``, and ``network`` and
        ``duration`` must be those of the first call.

        Raises
        ------
        BackendUnavailableError
            Standalone: the project was generated but not compiled, or this machine cannot
            compile or run it (no nvcc; no GPU: checked before code generation when the
            program is to run); the message names the project folder.
        BrianError
            An error Brian2 raised while preparing or running the network (one line naming
            the object and the cause; a ``RuntimeError``).
        RuntimeError
            Brian2's compilation or run errors, or a closed handle.
        """
        report = report if report is not None else progress.report()
        with self.active(), reraise_brian_errors(f"running network '{network.name}'"):
            if not self.is_standalone:
                for variable, value in (run_args or {}).items():
                    variable.set_item(slice(None), value)
                if self.name == "cython" and not self._announced:
                    progress.status("cython: compiling code objects (cached after first use)")
                    self._announced = True
                network.run(duration, namespace=namespace, report=report, level=level + 1)
                return
            if not self.built:
                network.run(duration, namespace=namespace, report=report, level=level + 1)
                self.build(run_args=run_args, compile=compile, run=execute, clean=clean)
                return
        if execute:
            self.run_program(run_args)

    def build(
        self,
        run_args: Mapping | None = None,
        compile: bool = True,
        run: bool = True,
        clean: bool = False,
    ) -> None:
        """Standalone: generate, compile and run the project once every ``Network.run`` of
        the simulation was issued (Brian2 records the run calls in standalone mode; nothing
        is simulated before this call). :meth:`run` calls it; call it directly only after
        running networks through ``Network.run`` yourself.

        Parameters
        ----------
        run_args : mapping, optional
            Brian2 ``run_args`` of the first run: ``{group.variable: value}``.
        compile, run : bool
            Compile the project / run the program after generating it.
        clean : bool
            Remove previous build products first (forces a full recompilation).

        Raises
        ------
        ValueError
            For a runtime backend.
        RuntimeError
            If the project was built already (run it again with :meth:`run_program`), or
            Brian2's compilation errors (the message gives the project folder).
        BackendUnavailableError
            ``cuda_standalone``: no ``nvcc`` (project generated only) or no GPU (project
            generated and compiled, not run); the message gives the project folder.
        """
        if not self.is_standalone:
            raise ValueError(f"build_standalone needs a standalone backend, got {self.name!r}")
        if self.built:
            raise RuntimeError(
                f"the {self.name} project in {self.directory} is already "
                f"built; run it again with run_standalone(backend, run_args)"
            )
        if compile and run:
            check_can_run(self.name)
        with self.active():
            opts = dict(getattr(self.device, "build_options", {}) or {})
            with_output = bool(opts.pop("with_output", False))
            what, t0 = (
                ("generating and compiling" if compile else "generating"),
                time.perf_counter(),
            )
            progress.status(f"{self.name}: {what} the project in {self.directory}")
            self.info.build(self, compile=compile, clean=clean, with_output=with_output, **opts)
            progress.status(f"{self.name}: done in {time.perf_counter() - t0:.1f} s")
        if compile and run:
            self.run_program(run_args)

    def run_program(self, run_args: Mapping | None = None) -> None:
        """Standalone: run the compiled program (again), without recompiling.

        Parameters
        ----------
        run_args : mapping, optional
            ``{group.variable: value}`` (Brian2 ``run_args``): new values of variables set
            before the first run, e.g. per-neuron parameters. Scalars or arrays of the
            variable's size.

        Raises
        ------
        ValueError
            For a runtime backend.
        BackendUnavailableError
            The project was generated but not compiled, or the program cannot run on this
            machine (``cuda_standalone`` without a GPU).
        RuntimeError
            If the project was not built, or the program failed.
        """
        if not self.is_standalone:
            raise ValueError(f"run_standalone needs a standalone backend, got {self.name!r}")
        if not self.built:
            raise RuntimeError(
                f"the {self.name} project is not compiled yet; call build_standalone first"
            )
        if not self.compiled:
            raise BackendUnavailableError(
                f"the {self.name} project in {self.directory} was generated but not compiled "
                f"(build(..., compile=True) needs a compiler"
                f"{' and nvcc' if self.name == 'cuda_standalone' else ''})"
            )
        if self.info.before_run is not None:
            self.info.before_run(self.directory)
        with self.active():
            t0 = time.perf_counter()
            self.device.run(
                directory=str(self.directory),
                with_output=False,
                run_args=dict(run_args) if run_args else None,
            )
            self.timings["run_s"] = time.perf_counter() - t0

    def build_and_run(
        self,
        run_args: Mapping | None = None,
        compile: bool = True,
        run: bool = True,
        clean: bool = False,
    ) -> None:
        """Standalone: :meth:`build` (generate, compile, run); runtime backends: nothing to do
        (``Network.run`` already ran). Prefer :meth:`run`, which also issues the run."""
        if self.is_standalone:
            self.build(run_args=run_args, compile=compile, run=run, clean=clean)

    def close(self, delete_directory: bool = False) -> None:
        """Free the private standalone device (``device.reinit()``) and remove a temporary
        project folder; ``delete_directory`` removes a given folder too. The Brian2 objects
        built on it can no longer be read afterwards."""
        if self._closed:
            return
        self._closed = True
        if self.is_standalone:
            try:
                self.device.reinit()
            except Exception:  # pragma: no cover - best effort
                pass
            if self._remove is not None:
                self._remove()
            elif delete_directory and self.directory is not None:
                projects.remove_project(self.directory)


# ---------------------------------------------------------------------------------------------
# Selecting a backend
# ---------------------------------------------------------------------------------------------
def _check_seed(seed) -> int | None:
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) and not hasattr(seed, "__index__")
    ):
        raise ModelError(f"seed must be an integer or None, got {seed!r}", parameter="seed")
    if seed is not None:
        seed = int(seed)
        if seed < 0:
            raise ModelError(f"seed must be >= 0, got {seed}", parameter="seed")
    return seed


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
        Standalone project folder, kept (default: a new temporary folder, removed when the
        handle is closed or the block fails; :mod:`neurolearn.brian.projects`). Ignored at
        runtime.
    seed : int, optional
        Seed of Brian2's random number generator (:func:`brian2.seed` at runtime,
        ``device.seed`` in standalone mode). None: unseeded.
    dt : Quantity, optional
        ``defaultclock.dt`` inside the block (default: the current one, normally 0.1 ms).
    prefs : mapping, optional
        Extra Brian2 preferences set inside the block, e.g.
        ``{"codegen.cpp.extra_compile_args_gcc": ["-O3"]}``. Applied after the backend's own
        (``BackendInfo.configure``, e.g. :func:`neurolearn.brian.cuda.configure`), so they
        override them.
    **device_options
        Build options of the standalone device (``with_output``, ``debug``...), stored as
        Brian2's ``build_options``.

    Yields
    ------
    Backend
        Handle to run networks (:meth:`Backend.run`) and to re-enter the backend later.

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
    attached to the handle's private device: run them with :meth:`Backend.run` (inside the
    block, or later again with new ``run_args``).
    """
    import brian2
    from brian2 import defaultclock, start_scope
    from brian2.devices.device import get_device, reset_device, set_device

    info = backend_info(name)
    seed = _check_seed(seed)
    saved_prefs = _snapshot_prefs()
    saved_dt = defaultclock.dt
    saved_device = get_device()
    switched = False
    try:
        device = info.device()
        if info.configure is not None:
            info.configure()
        if not info.is_standalone:
            brian2.prefs["codegen.target"] = info.codegen_target
            if saved_device is not device:
                set_device(device)
                switched = True
        else:
            set_device(device, build_on_run=False, **device_options)
            switched = True
        for key, value in (prefs or {}).items():
            brian2.prefs[key] = value
        defaultclock.dt = dt if dt is not None else saved_dt
        start_scope()
        if seed is not None:
            if info.is_standalone:
                device.seed(seed)
            else:
                brian2.seed(seed)
        proj = None
        if info.is_standalone:
            proj = (
                Path(directory).resolve()
                if directory is not None
                else projects.make_temporary_project(name)
            )
        handle = Backend(
            name, device, proj, seed, _snapshot_prefs(), defaultclock.dt, directory is None
        )
        try:
            yield handle
        except BaseException as exc:
            if handle.temporary:
                handle.close()
                if isinstance(exc, BackendUnavailableError) and str(proj) in str(exc):
                    raise BackendUnavailableError(
                        f"{exc} (that temporary folder was removed: give a project folder, "
                        "directory=DIR or --build-dir DIR, to keep it)"
                    ) from None
            raise
    finally:
        if switched:
            reset_device()
        _restore_prefs(saved_prefs)
        if info.on_exit is not None:
            info.on_exit()
        try:
            defaultclock.dt = saved_dt
        except Exception:  # pragma: no cover
            pass


# ---------------------------------------------------------------------------------------------
# Functions kept for callers of the earlier interface
# ---------------------------------------------------------------------------------------------
def build_standalone(
    backend: Backend,
    run_args: Mapping | None = None,
    compile: bool = True,
    run: bool = True,
    clean: bool = False,
) -> None:
    """Generate (and compile, and run) the standalone project of ``backend``:
    :meth:`Backend.build` (parameters and errors there)."""
    backend.build(run_args=run_args, compile=compile, run=run, clean=clean)


def run_standalone(backend: Backend, run_args: Mapping | None = None) -> None:
    """Run an already compiled standalone project again, without recompiling:
    :meth:`Backend.run_program` (parameters and errors there)."""
    backend.run_program(run_args)
