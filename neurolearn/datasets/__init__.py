"""Spiking datasets: readers, encoders, binning into ``[time, batch, channels]`` tensors.

Entry point
-----------
::

    from neurolearn.datasets import load_dataset
    train = load_dataset("fsdd", "train", dt_ms=10.0, duration_ms=1000.0, channels=64)
    x, y = train[0]           # x: float32 [time, channels] spike counts, y: int64 class index
    for x, y in train.loader(batch_size=64, shuffle=True, seed=0):
        ...                   # x: float32 [time, batch, channels], y: int64 [batch]

``load_dataset(name, split="train", *, dt_ms=1.0, duration_ms=None, binary=False,
valid_fraction=None, seed=0, max_samples=None, **options) -> SpikeDataset``

* ``name``: ``"fsdd" | "shd" | "ssc" | "nmnist" | "braille"``; ``split``: ``"train" | "valid"
  | "test"``. ``"valid"`` is the stratified ``valid_fraction`` of the official training set
  (``"train"`` then being the rest), or SSC's official validation file when
  ``valid_fraction`` is None.
* Sample ``i`` is binned on access: event ``k`` goes to bin ``floor(t_k / dt)``; events at or
  after ``duration_ms`` are dropped; shorter samples are padded with empty bins. Counts per
  bin (or 0/1 with ``binary=True``). ``n_steps = round(duration_ms / dt_ms)``.
* :class:`SpikeDataset` attributes: ``labels`` (int64 array), ``n_steps``, ``n_channels``,
  ``n_classes``, ``class_names``, ``dt_ms``, ``duration_ms``, ``events``
  (:class:`SpikeEvents`); methods ``loader(batch_size, shuffle, seed, ...)`` (DataLoader with
  :func:`collate_time_major`), ``dense(indices)`` (``[time, n, channels]`` tensor and labels),
  ``subset(indices)``. :class:`DenseSpikeDataset` holds a dataset binned once, in memory;
  :func:`time_major_loader` gives the same batches for any dataset of ``(x [time, channels],
  y)`` samples, optionally through a batch transform (training-time augmentation).
* :func:`load_events` returns the unbinned :class:`SpikeEvents` (times in seconds, float32;
  channel indices, int32; CSR offsets; int64 labels; per-sample ``extra`` such as
  ``speaker``). An official split is read (or converted) once per process and shared
  (read-only arrays) by later calls with the same arguments.
* Options (``**options``) per dataset: ``fsdd``: ``channels`` (700), ``workers``,
  ``progress``, ``download`` and the cochlear parameters of
  :class:`~neurolearn.datasets.cochlea.CochleaParams` (``f_min_hz``, ``f_max_hz``, ``gain``,
  ``tau_ms``, ``refractory_ms``, ``compression``, ``bandwidth_factor``); ``shd``/``ssc``:
  ``download``, ``progress``; ``nmnist``: ``variant`` (``"auto" | "small" | "full"``),
  ``download``, ``progress``; ``braille``: ``threshold`` (1.0), ``path``. Unknown options
  raise ``ValueError``.
* Default ``duration_ms``: fsdd 1000, shd 1400, ssc 1000, nmnist 350, braille 2000.

Datasets (``DATASETS[name]`` holds classes, channels, splits, default duration, loader)
------------------------------------------------------------------------------------------
===========  =======  ==================  ====================================================
name         classes  channels            labels
===========  =======  ==================  ====================================================
``fsdd``     10       ``channels`` (700)  digit 0-9; ``extra["speaker"]`` index into
                                          ``meta["speakers"]``; split by utterance index
                                          (0-4 test: 300, 5-49 train: 2700)
``shd``      20       700                 0-9 English "zero".."nine", 10-19 German
                                          "null".."neun" (train 8156, test 2264)
``ssc``      35       700                 word index, names from the file's ``extra/keys``
``nmnist``   10       2312 = 2x34x34      digit; channel = ``p * 1156 + y * 34 + x``
``braille``  27       24 = 12 taxels x 2  ``BRAILLE_CLASSES`` ("Space", "A".."Z"); channel =
                                          ``2 * taxel + (0 increase | 1 decrease)``
===========  =======  ==================  ====================================================

Data location: ``NEUROLEARN_DATA_DIR`` names a folder laid out like the project's reference
data folder (``fsdd/recordings``, ``nmnist_small``, ``braille/braille_taxels.npz``,
``shd/shd_train.h5``...); downloads (pooch, checksums in the project's ``data/`` registry
files) and converted datasets go to ``NEUROLEARN_CACHE_DIR`` (:mod:`neurolearn.paths`). A
dataset found nowhere raises :class:`neurolearn.paths.DataNotFoundError` saying how to get it.

Registry: :data:`DATASETS` is filled by the dataset modules themselves, each calling
:func:`~neurolearn.datasets.catalog.register_dataset` with a :class:`DatasetInfo` that carries
its loader; every list of names derives from it. Adding a dataset is one module with one
registration (imported in :mod:`.api`).

Modules: :mod:`.catalog` (the registry), :mod:`.core` (events, binning, Dataset), :mod:`.shd`
(SHD/SSC HDF5 layout, reader and writer), :mod:`.cochlea` (brian2hears cochlear model),
:mod:`.fsdd` (Spiking FSDD), :mod:`.nmnist` (N-MNIST ``.bin``/``.bs2``), :mod:`.braille`
(sigma-delta encoding), :mod:`.fetch` (local files, cache, downloads), :mod:`.speakers`
(speaker-independent splits), :mod:`.binned` (samples kept as bits, time-scale augmentation
binned on the fly).
"""

from .api import DATASETS, DatasetInfo, dataset_names, load_dataset, load_events
from .binned import PackedSpikeDataset, TimeScaledSpikes
from .catalog import register_dataset
from .core import (
    DenseSpikeDataset,
    SpikeDataset,
    SpikeEvents,
    bin_events,
    collate_time_major,
    n_time_steps,
    stratified_split,
    time_major_loader,
)
from .shd import SHD_CLASSES, read_shd, write_shd
from .speakers import SPLITS, speaker_names, speaker_split

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "dataset_names",
    "register_dataset",
    "load_dataset",
    "load_events",
    "SpikeDataset",
    "DenseSpikeDataset",
    "PackedSpikeDataset",
    "TimeScaledSpikes",
    "SPLITS",
    "speaker_names",
    "speaker_split",
    "SpikeEvents",
    "bin_events",
    "collate_time_major",
    "time_major_loader",
    "n_time_steps",
    "stratified_split",
    "SHD_CLASSES",
    "read_shd",
    "write_shd",
]
