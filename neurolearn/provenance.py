"""Where a result came from: the command, the date, the code's git revision, the versions of
the packages that computed it and the machine it ran on.

Reproductions (:mod:`neurolearn.reproductions`) write this record as ``provenance.json`` beside
their results, benchmarks (``benchmarks/*.py --json``) put it into their result files, and the
documentation's results and benchmarks pages print it next to every table, so that no number
is shown without the command, the versions and the date that produced it.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "git_revision", "package_versions", "machine", "provenance"]

#: Packages whose versions a record lists (those not installed are left out).
PACKAGES = ("neurolearn", "brian2", "numpy", "scipy", "sympy", "torch", "brian2cuda", "allensdk")


def git_revision(folder: str | os.PathLike | None = None) -> str | None:
    """The git commit of the checkout holding ``folder``, with ``-dirty`` when files differ.

    Parameters
    ----------
    folder : path, optional
        A folder inside the checkout (default: the folder of this package).

    Returns
    -------
    str or None
        The 40-digit commit hash (``"<hash>-dirty"`` if tracked files are modified), or None
        where ``folder`` is not inside a git checkout or git is not installed.
    """
    where = Path(folder) if folder is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` and of Python, read from the package metadata
    (nothing is imported).

    Parameters
    ----------
    packages : tuple of str
        Distribution names (default :data:`PACKAGES`).

    Returns
    -------
    dict of str -> str
        ``{"python": "3.11.7", "brian2": "2.8.0", ...}``; packages that are not installed are
        left out.
    """
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name.lower()] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The machine a result was computed on.

    Returns
    -------
    dict
        ``platform``, ``cpu`` (model name), ``cpus`` (cores of the machine), ``cpus_usable``
        (cores this process may run on), ``threads`` (torch's intra-op threads if torch is
        imported, else ``OMP_NUM_THREADS`` or None) and ``load_average`` (1, 5 and 15 min;
        None where the system has none).
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    if threads is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"])
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - no load average
        load = None
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "threads": threads,
        "load_average": load,
    }


def provenance(command: str | list[str] | None = None) -> dict[str, Any]:
    """The record of where a result came from.

    Parameters
    ----------
    command : str or list of str, optional
        The command that produced the result (a list is joined with shell quoting); default:
        this process's ``sys.argv``.

    Returns
    -------
    dict
        ``command``, ``date`` (UTC, ISO 8601, seconds), ``git_revision`` (see
        :func:`git_revision`), ``versions`` (:func:`package_versions`) and ``machine``
        (:func:`machine`); JSON-serialisable.
    """
    if command is None:
        command = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    if not isinstance(command, str):
        command = shlex.join(command)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {
        "command": command,
        "date": now.isoformat(),
        "git_revision": git_revision(),
        "versions": package_versions(),
        "machine": machine(),
    }
