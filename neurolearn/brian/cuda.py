"""brian2cuda set-up: generate the CUDA project anywhere, compile it where ``nvcc`` exists,
run it where an NVIDIA GPU exists.

brian2cuda (Alevi et al. 2022, Front. Neuroinform. 16:883700) assumes a GPU to query and a
CUDA toolkit of its time. Two releases are supported, chosen by the ``cuda`` extra's environment
markers: 1.0a7 (pins brian2 2.8.0; Python <= 3.11) and 1.0b1 (pins brian2 2.10.1; Python >=
3.12). Both keep the same device, preference and build interfaces and both still write
``-std=c++11`` into their makefile, so everything below applies to either.
:func:`configure` (called by ``use_backend("cuda_standalone")``) makes them work on today's
machines, in code rather than manual steps:

* **No GPU** (``nvidia-smi`` missing or listing none): GPU detection is switched off
  (``devices.cuda_standalone.cuda_backend.detect_gpus = False``) and the GPU id and compute
  capability are set by hand (``NEUROLEARN_CUDA_GPU_ID``, default 0;
  ``NEUROLEARN_CUDA_COMPUTE_CAPABILITY``, default 8.0), so the project can still be generated
  and compiled. With a GPU, brian2cuda detects it as usual.
* **CUDA runtime version** is read from ``nvcc --version`` (or set to 12.0 when there is no
  ``nvcc``: the project is then generated but not compiled).
* **C++17**: CUDA >= 12 (Thrust/CUB) needs C++17, while brian2cuda's makefile asks for C++11.
  ``-std=c++11`` is removed from Brian2's host compiler flags, ``-std=c++17`` added, and the
  generated makefile's ``-std=c++11`` for ``nvcc`` is replaced by ``-std=c++17`` before
  compiling (:func:`patch_makefile`).
* **curand**: when the toolkit has no ``curand.h``, the headers and library of NVIDIA's
  curand wheel are used (include, library and run-time library folders), in either layout:
  ``nvidia/curand/{include,lib}`` (``nvidia-curand-cu12``, CUDA 12) or
  ``nvidia/cu13/{include,lib}`` (``nvidia-curand`` 10.4+, CUDA 13); the wheels ship only
  ``libcurand.so.10``, so a ``libcurand.so`` link to it is made in neurolearn's cache folder
  for the linker.

Running the compiled project without a GPU raises :class:`BackendUnavailableError` naming the
project folder (copy it to a GPU machine and run ``./main`` there).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from .errors import BackendUnavailableError

__all__ = [
    "make_device",
    "forget_detection",
    "nvcc_path",
    "cuda_version",
    "gpu_available",
    "curand_dirs",
    "configure",
    "patch_makefile",
    "build",
    "require_gpu",
    "DEFAULT_COMPUTE_CAPABILITY",
]

#: Compute capability compiled for when no GPU can be queried (Ampere, sm_80).
DEFAULT_COMPUTE_CAPABILITY = 8.0


def make_device():
    """A private ``CUDAStandaloneDevice`` (brian2cuda; Alevi et al. 2022), the device factory
    of the ``cuda_standalone`` backend.

    Raises
    ------
    BackendUnavailableError
        If brian2cuda is not installed (``pip install 'neurolearn[cuda]'``).
    """
    try:
        import brian2cuda  # noqa: F401 - registers brian2cuda's preferences
        from brian2cuda.device import CUDAStandaloneDevice
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend 'cuda_standalone' needs brian2cuda: pip install 'neurolearn[cuda]' ({exc})"
        ) from None
    return CUDAStandaloneDevice()


def forget_detection() -> None:
    """Forget what brian2cuda detected (CUDA installation, GPU) under the preferences of a
    ``use_backend("cuda_standalone")`` block, when the block ends."""
    try:
        from brian2cuda.utils import gputools
    except ImportError:  # pragma: no cover - brian2cuda missing: nothing detected
        return
    gputools.reset_cuda_installation()
    gputools.reset_gpu_selection()


def nvcc_path() -> Path | None:
    """Path of ``nvcc`` (``$CUDA_PATH/bin``, ``PATH``, ``/usr/local/cuda/bin``), or None."""
    candidates = []
    if os.environ.get("CUDA_PATH"):
        candidates.append(Path(os.environ["CUDA_PATH"]) / "bin" / "nvcc")
    which = shutil.which("nvcc")
    if which:
        candidates.append(Path(which))
    candidates.append(Path("/usr/local/cuda/bin/nvcc"))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def _cuda_root(nvcc: Path | None) -> Path:
    if nvcc is None:
        return Path(os.environ.get("CUDA_PATH", "/usr/local/cuda"))
    root = nvcc.resolve().parent.parent
    if (root / "include" / "cuda_runtime.h").is_file():
        return root
    # nvcc may be a wrapper script (e.g. /usr/local/bin/nvcc exec-ing the real one)
    for guess in (os.environ.get("CUDA_PATH"), "/usr/local/cuda", "/opt/cuda"):
        if guess and (Path(guess) / "include" / "cuda_runtime.h").is_file():
            return Path(guess)
    return root


@functools.cache
def _nvcc_version(nvcc: str) -> float | None:
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+)\.(\d+)", out)
    return float(f"{m.group(1)}.{m.group(2)}") if m else None


def cuda_version() -> float | None:
    """CUDA toolkit version from ``nvcc --version`` (e.g. 13.0), or None without nvcc."""
    nvcc = nvcc_path()
    return None if nvcc is None else _nvcc_version(str(nvcc))


def gpu_available() -> bool:
    """True if ``nvidia-smi -L`` lists at least one GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU " in out.stdout


def curand_dirs() -> tuple[Path, Path] | None:
    """(include folder, library folder) of curand from NVIDIA's curand wheel (any folder of the
    ``nvidia`` namespace holding ``include/curand.h`` and ``lib/libcurand.so*``:
    ``nvidia/curand`` of ``nvidia-curand-cu12``, ``nvidia/cu13`` of ``nvidia-curand`` 10.4+),
    with a ``libcurand.so`` link made in the cache folder if the wheel has only
    ``libcurand.so.N``.

    Returns None if the wheel is not installed.
    """
    try:
        import nvidia  # namespace package of NVIDIA's wheels
    except ImportError:
        return None
    for base in getattr(nvidia, "__path__", []):
        for sub in sorted(Path(base).glob("*")):
            inc, lib = sub / "include", sub / "lib"
            if (inc / "curand.h").is_file() and any(lib.glob("libcurand.so*")):
                if (lib / "libcurand.so").exists():
                    return inc, lib
                from ..paths import cache_dir

                versioned = sorted(lib.glob("libcurand.so.*"))[0]
                link_dir = cache_dir() / "cuda" / "lib"
                link_dir.mkdir(parents=True, exist_ok=True)
                link = link_dir / "libcurand.so"
                if not (link.is_symlink() and Path(os.readlink(link)) == versioned):
                    tmp = link_dir / f".libcurand.so.{os.getpid()}"
                    if tmp.is_symlink() or tmp.exists():
                        tmp.unlink()
                    tmp.symlink_to(versioned)
                    os.replace(tmp, link)
                return inc, link_dir
    return None


def configure() -> dict:
    """Set Brian2/brian2cuda preferences so that the CUDA project generates (and compiles)
    on this machine; called inside ``use_backend("cuda_standalone")``, whose exit restores
    the preferences.

    Returns
    -------
    dict
        What was found: ``nvcc`` (path or None), ``cuda_version``, ``gpu`` (bool),
        ``compute_capability``, ``curand`` (the wheel's folders or None).
    """
    import brian2cuda  # noqa: F401 - registers the preferences
    from brian2 import prefs
    from brian2cuda.utils import gputools

    nvcc = nvcc_path()
    version = cuda_version()
    gpu = gpu_available()
    root = _cuda_root(nvcc)
    backend = "devices.cuda_standalone.cuda_backend."
    prefs[backend + "cuda_path"] = str(root)
    if nvcc is None:
        prefs[backend + "detect_cuda"] = False
    prefs[backend + "cuda_runtime_version"] = version if version is not None else 12.0
    cc = None
    if not gpu:
        prefs[backend + "detect_gpus"] = False
        prefs[backend + "gpu_id"] = int(os.environ.get("NEUROLEARN_CUDA_GPU_ID", 0))
        cc = float(os.environ.get("NEUROLEARN_CUDA_COMPUTE_CAPABILITY", DEFAULT_COMPUTE_CAPABILITY))
        prefs[backend + "compute_capability"] = cc
    # brian2cuda caches what it detected at module level; forget earlier detections.
    gputools.reset_cuda_installation()
    gputools.reset_gpu_selection()

    gcc = [a for a in prefs["codegen.cpp.extra_compile_args_gcc"] if not a.startswith("-std=")]
    prefs["codegen.cpp.extra_compile_args_gcc"] = gcc + ["-std=c++17"]

    curand = None
    if not (root / "include" / "curand.h").is_file():
        curand = curand_dirs()
        if curand is not None:
            inc, lib = curand
            prefs["codegen.cpp.include_dirs"] = list(prefs["codegen.cpp.include_dirs"]) + [str(inc)]
            real_lib = Path(os.path.realpath(next(lib.glob("libcurand.so*")))).parent
            prefs["codegen.cpp.library_dirs"] = list(prefs["codegen.cpp.library_dirs"]) + [str(lib)]
            prefs["codegen.cpp.runtime_library_dirs"] = list(
                prefs["codegen.cpp.runtime_library_dirs"]
            ) + [str(real_lib)]
    return {
        "nvcc": nvcc,
        "cuda_version": version,
        "gpu": gpu,
        "compute_capability": cc,
        "curand": curand,
    }


def patch_makefile(directory: str | os.PathLike) -> Path:
    """Replace ``-std=c++11`` by ``-std=c++17`` in a generated brian2cuda makefile.

    Returns
    -------
    Path
        The makefile.

    Raises
    ------
    FileNotFoundError
        If ``directory`` has no makefile (the project was not generated).
    """
    makefile = Path(directory) / "makefile"
    text = makefile.read_text()
    new = text.replace("-std=c++11", "-std=c++17")
    if new != text:
        makefile.write_text(new)
    return makefile


@contextlib.contextmanager
def _quiet_brian2cuda():
    """brian2cuda logs every preference at INFO level on the console during a build."""
    from brian2.utils.logger import BrianLogger

    handler = BrianLogger.console_handler
    if handler is None:
        yield
        return
    level = handler.level
    handler.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        handler.setLevel(level)


def require_gpu(directory) -> None:
    """Raise :class:`BackendUnavailableError` if this machine has no NVIDIA GPU."""
    if not gpu_available():
        raise BackendUnavailableError(
            f"cuda_standalone: this machine has no NVIDIA GPU (nvidia-smi lists none), so the "
            f"CUDA program cannot run here. The generated project is in {directory}; copy it "
            f"to a machine with a GPU and run ./main there, or choose backend "
            f"'cpp_standalone' to run on the CPU."
        )


def build(
    backend,
    run_args: Mapping | None = None,
    compile: bool = True,
    run: bool = True,
    clean: bool = False,
    with_output: bool = False,
    **opts,
) -> None:
    """Generate the CUDA project of ``backend`` (always), compile it if ``nvcc`` exists and
    ``compile`` is true, run it if a GPU exists and ``run`` is true.

    Called by :meth:`neurolearn.brian.backends.Backend.build` (the ``build`` of the
    ``cuda_standalone`` entry of the backend table) with the backend active, with
    ``run=False``: the backend runs the program itself.

    Raises
    ------
    BackendUnavailableError
        When ``compile``/``run`` was asked for but ``nvcc``/a GPU is missing; the project (and
        the binary, if compiled) are left in ``backend.directory``.
    RuntimeError
        Compilation errors (Brian2's message with the project folder).
    """
    from brian2.codegen.cpp_prefs import get_compiler_and_args

    t0 = time.perf_counter()
    device = backend.device
    directory = str(backend.directory)
    with _quiet_brian2cuda():
        device.build(
            directory=directory,
            compile=False,
            run=False,
            clean=clean,
            with_output=with_output,
            direct_call=True,
            **opts,
        )
    patch_makefile(directory)
    backend.built = True
    backend.timings["generate_s"] = time.perf_counter() - t0
    if not compile:
        return
    if nvcc_path() is None:
        raise BackendUnavailableError(
            f"cuda_standalone: the CUDA project was generated in {directory}, but nvcc was not "
            f"found (set CUDA_PATH or put nvcc on PATH) so it was not compiled"
        )
    compiler, _ = get_compiler_and_args()
    device.compile_source(directory, compiler, opts.get("debug", False), clean)
    backend.compiled = True
    backend.timings["build_s"] = time.perf_counter() - t0
    if run:
        backend.run_program(run_args)
