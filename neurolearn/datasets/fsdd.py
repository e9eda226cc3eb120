"""Spiking FSDD: the Free Spoken Digit Dataset through a cochlear model.

Source
    Jackson, Z., Souza, C., Flaks, J., Pan, Y., Nicolas, H. & Thite, A. (2018). Jakobovski/
    free-spoken-digit-dataset v1.0.8, Zenodo, doi:10.5281/zenodo.1342401; recordings of tag
    v1.0.10, https://github.com/Jakobovski/free-spoken-digit-dataset
Licence
    Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0); the converted
    spike files are derived data under the same licence.

Content
    3000 recordings, 8 kHz mono 16-bit wav, 6 English speakers (george, jackson, lucas,
    nicolas, theo, yweweler) x 10 digits x 50 repetitions, named
    ``{digit}_{speaker}_{index}.wav``. Official split: index 0-4 test (300), 5-49 train (2700).
    Labels are the digits 0-9; ``extra["speaker"]`` indexes ``FSDD_SPEAKERS`` and
    ``extra["index"]`` is the repetition index.

Conversion
    Every recording goes through :mod:`neurolearn.datasets.cochlea` (gammatone filterbank
    with ERB-spaced centre frequencies designed by brian2hears, half-wave rectification and
    cube-root compression, LIF spike generation, optionally several units of graded threshold
    per channel; ``channels`` default 700 like SHD). The
    result is written once, atomically, as two files in the SHD layout
    (``spiking_fsdd_<key>_{train,test}.h5`` in ``NEUROLEARN_CACHE_DIR/fsdd``), ``<key>``
    a hash of the conversion parameters and of the recordings' names and sizes, so
    :func:`~neurolearn.datasets.shd.read_shd` serves both datasets and another parameter set
    gets its own files. The conversion runs in parallel processes with a progress bar.

Where the recordings come from: ``NEUROLEARN_DATA_DIR/fsdd/recordings`` when that variable is
set; otherwise ``NEUROLEARN_CACHE_DIR/fsdd/recordings``, downloaded on first use from the
GitHub archive of tag v1.0.10 with pooch, each recording checked against the sha256 sums in
``neurolearn/datasets/registry/fsdd_v1.0.10.txt``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..paths import DataNotFoundError, cache_dir, data_dir
from .catalog import DatasetInfo, register_dataset
from .cochlea import CochleaParams
from .core import SpikeEvents

__all__ = [
    "FSDD_SPEAKERS",
    "FSDD_CLASSES",
    "fsdd_recordings",
    "list_recordings",
    "convert_recordings",
    "spiking_fsdd_files",
    "fsdd_events",
]

FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TAG = "v1.0.10"
_ARCHIVE_URL = (
    f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/{_TAG}.tar.gz"
)
_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
_HOW_TO_GET = (
    "The Free Spoken Digit Dataset (CC BY-SA 4.0) is at "
    "https://github.com/Jakobovski/free-spoken-digit-dataset (tag v1.0.10): put its "
    "recordings/ folder at $NEUROLEARN_DATA_DIR/fsdd/recordings, or leave "
    "NEUROLEARN_DATA_DIR unset (or pass download=True) to download it into the cache."
)
#: Bump when the conversion code changes its output: part of the cache key.
_CONVERTER_VERSION = 1


def list_recordings(folder: str | os.PathLike) -> list[tuple[Path, int, str, int]]:
    """The FSDD recordings of ``folder``: ``(path, digit, speaker, index)`` sorted by digit,
    speaker and index; files not named ``{digit}_{speaker}_{index}.wav`` are ignored.

    Raises
    ------
    DataNotFoundError
        If the folder has no recordings.
    """
    folder = Path(folder)
    out = []
    for p in folder.iterdir() if folder.is_dir() else []:
        m = _NAME.match(p.name)
        if m:
            out.append((p, int(m.group(1)), m.group(2), int(m.group(3))))
    if not out:
        raise DataNotFoundError(
            f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {folder}. " + _HOW_TO_GET
        )
    out.sort(key=lambda r: (r[1], r[2], r[3]))
    return out


def _download_recordings(target: Path, progress: bool) -> Path:
    from .fetch import fetch_file, load_registry

    registry = load_registry(f"fsdd_{_TAG}.txt")
    archive = fetch_file(
        f"free-spoken-digit-dataset-{_TAG}.tar.gz",
        _ARCHIVE_URL,
        None,
        "fsdd",
        _HOW_TO_GET,
        progress,
    )
    staging = target.parent / (target.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    bad = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) < 3 or parts[-2] != "recordings" or not member.isfile():
                continue
            key = f"recordings/{parts[-1]}"
            if key not in registry:
                continue
            data = tar.extractfile(member).read()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if digest != registry[key]:
                bad.append(key)
                continue
            (staging / parts[-1]).write_bytes(data)
    missing = [k for k in registry if not (staging / k.split("/")[-1]).exists()]
    if bad or missing:
        raise DataNotFoundError(
            f"the FSDD archive {archive} does not match the registry file fsdd_{_TAG}.txt"
            f": {len(bad)} recordings with a wrong sha256 (e.g. {bad[:3]}), "
            f"{len(missing)} missing (e.g. {missing[:3]}). Delete the "
            f"archive to download it again. " + _HOW_TO_GET
        )
    os.replace(staging, target)
    return target


def fsdd_recordings(download: bool | None = None, progress: bool = True) -> Path:
    """Folder of the FSDD wav files (see the module docstring for where it is looked for).

    Raises
    ------
    DataNotFoundError
        If the recordings are neither local nor downloadable.
    """
    from .fetch import should_download

    root = data_dir()
    if root is not None and (root / "fsdd" / "recordings").is_dir():
        return root / "fsdd" / "recordings"
    cached = cache_dir() / "fsdd" / "recordings"
    if cached.is_dir():
        return cached
    if not should_download(download):
        raise DataNotFoundError(
            f"FSDD recordings not found in NEUROLEARN_DATA_DIR={root} "
            f"(fsdd/recordings) nor in the cache, and downloads are off. " + _HOW_TO_GET
        )
    return _download_recordings(cached, progress)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    from scipy.io import wavfile

    try:
        rate, x = wavfile.read(path)
    except ValueError as err:
        raise ValueError(f"{path}: cannot read as wav ({err})") from err
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x, int(rate)


def _convert_chunk(paths: list[str], params: CochleaParams):
    from .cochlea import audio_to_spikes_batch

    sounds = [_read_wav(Path(p)) for p in paths]
    rates = {r for _, r in sounds}
    if len(rates) != 1:
        raise ValueError(f"recordings with different sampling rates {rates}: {paths}")
    spikes = audio_to_spikes_batch([s for s, _ in sounds], rates.pop(), params)
    return [(t.astype(np.float32), u.astype(np.uint16)) for t, u in spikes]


def convert_recordings(
    paths: list[Path],
    params: CochleaParams = CochleaParams(),
    workers: int | None = None,
    progress: bool = True,
    chunk: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Spikes of the cochlear model for many wav files, in parallel.

    Parameters
    ----------
    paths : list of Path
        Wav files (all with the same sampling rate within a chunk).
    params : CochleaParams
    workers : int, optional
        Processes (default: the number of CPUs); 1 runs in this process.
    progress : bool
        tqdm progress bar over files.
    chunk : int, optional
        Recordings of similar length converted together (their LIF units run as one array);
        default about 16 000 units per chunk.

    Returns
    -------
    list of (times_s float32, channels uint16), in the order of ``paths``
    """
    from tqdm.auto import tqdm

    if chunk is None:
        chunk = max(1, 16384 // params.n_units)
    sizes = np.array([Path(p).stat().st_size for p in paths])
    order = np.argsort(sizes, kind="stable")  # similar lengths together: little padding
    groups = [order[i : i + chunk] for i in range(0, len(order), chunk)]
    results: list = [None] * len(paths)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    bar = tqdm(
        total=len(paths),
        desc=f"cochlear model ({params.channels} channels)",
        unit="file",
        disable=not progress,
    )
    try:
        if workers <= 1:
            for g in groups:
                for j, r in zip(g, _convert_chunk([str(paths[j]) for j in g], params)):
                    results[j] = r
                bar.update(len(g))
        else:
            import multiprocessing

            from .cochlea import compiled_kernel

            compiled_kernel()  # build (or load) it once here; forked workers inherit it
            # fork where available (children inherit the imported modules; they use numpy and
            # scipy only); spawn elsewhere
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = {
                    pool.submit(_convert_chunk, [str(paths[j]) for j in g], params): g
                    for g in groups
                }
                from concurrent.futures import as_completed

                for fut in as_completed(futures):
                    g = futures[fut]
                    for j, r in zip(g, fut.result()):
                        results[j] = r
                    bar.update(len(g))
    finally:
        bar.close()
    return results


def _cache_key(recordings, params: CochleaParams) -> str:
    h = hashlib.sha256()
    fields = params.as_dict()
    if fields["units_per_channel"] == 1:
        # one unit per channel is the model before these fields existed: same cache files
        del fields["units_per_channel"], fields["threshold_ratio"]
    h.update(json.dumps({"params": fields, "version": _CONVERTER_VERSION}, sort_keys=True).encode())
    for path, *_ in recordings:
        h.update(f"{path.name}:{path.stat().st_size};".encode())
    return h.hexdigest()[:16]


def spiking_fsdd_files(
    params: CochleaParams = CochleaParams(),
    download: bool | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Paths of the converted Spiking FSDD (``{"train": ..., "test": ...}``, SHD layout),
    converting the recordings first when no cached files exist for these parameters."""
    from .shd import write_shd

    folder = fsdd_recordings(download, progress)
    recordings = list_recordings(folder)
    key = _cache_key(recordings, params)
    out_dir = cache_dir() / "fsdd"
    files = {s: out_dir / f"spiking_fsdd_{key}_{s}.h5" for s in ("train", "test")}
    if all(p.exists() for p in files.values()):
        return files
    spikes = convert_recordings([r[0] for r in recordings], params, workers, progress)
    speakers = sorted(set(FSDD_SPEAKERS) | {r[2] for r in recordings})
    attrs = {
        "source": f"Free Spoken Digit Dataset {_TAG} (CC BY-SA 4.0), {folder}",
        "cochlea_params_json": json.dumps(params.as_dict(), sort_keys=True),
        "converter_version": _CONVERTER_VERSION,
        "samplerate_hz": 8000,
    }
    for split in ("train", "test"):
        idx = [i for i, r in enumerate(recordings) if (r[3] < 5) == (split == "test")]
        events = SpikeEvents.from_lists(
            [spikes[i][0] for i in idx],
            [spikes[i][1] for i in idx],
            [recordings[i][1] for i in idx],
            params.n_units,
            class_names=FSDD_CLASSES,
            name="fsdd",
            extra={
                "speaker": np.array([speakers.index(recordings[i][2]) for i in idx]),
                "index": np.array([recordings[i][3] for i in idx]),
            },
        )
        write_shd(files[split], events, meta_info={"speaker_name": np.array(speakers)}, attrs=attrs)
    return files


def fsdd_events(
    split: str = "train",
    channels: int = 700,
    download: bool | None = None,
    workers: int | None = None,
    progress: bool = True,
    **cochlea,
) -> SpikeEvents:
    """One official split of Spiking FSDD.

    Parameters
    ----------
    split : {"train", "test"}
        Utterance index 5-49 (2700 samples) or 0-4 (300 samples).
    channels : int
        Cochlear channels (700 like SHD).
    download : bool, optional
        See :mod:`neurolearn.datasets.fetch`.
    workers : int, optional
        Conversion processes (default: number of CPUs).
    progress : bool
        Progress bars.
    **cochlea
        Other :class:`~neurolearn.datasets.cochlea.CochleaParams` fields (``f_min_hz``,
        ``gain``, ``tau_ms``, ``units_per_channel``, ``threshold_ratio``...).

    Returns
    -------
    SpikeEvents
        10 classes (digits), ``channels * units_per_channel`` input channels (unit
        ``c * units_per_channel + k`` is threshold ``k`` of cochlear channel ``c``; 0 = lowest
        centre frequency), times in s;
        ``extra["speaker"]`` (index into ``meta["meta_info"]["speaker_name"]``),
        ``extra["index"]``.
    """
    from .shd import read_shd

    if split not in ("train", "test"):
        raise ValueError(f"FSDD has splits 'train' and 'test', not {split!r}")
    import dataclasses

    fields = {f.name for f in dataclasses.fields(CochleaParams)} - {"channels"}
    unknown = sorted(set(cochlea) - fields)
    if unknown:
        raise ValueError(
            f"fsdd: unknown option(s) {', '.join(unknown)}; accepted: channels, "
            f"download, workers, progress, {', '.join(sorted(fields))}"
        )
    params = CochleaParams(channels=int(channels), **cochlea)
    files = spiking_fsdd_files(params, download, workers, progress)
    return read_shd(files[split], name="fsdd", class_names=FSDD_CLASSES)


register_dataset(
    DatasetInfo(
        "fsdd",
        10,
        None,
        ("train", "test"),
        1000.0,
        "Spiking Free Spoken Digit Dataset: 3000 recordings (6 speakers) through "
        "a brian2hears cochlear model, default 700 channels",
        loader=fsdd_events,
    )
)
