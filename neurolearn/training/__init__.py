"""Training of spiking networks with surrogate gradients: configuration files, the training
loop, checkpoints and resumption.

A training run is described by a TOML file (see :data:`CONFIG_SCHEMA` for every key, its
type, default and meaning; ``neurolearn config train`` prints the complete default
configuration with a comment on every key, ``configs/train_defaults.toml`` is that file and
``configs/fsdd_lif.toml`` an example)::

    [data]
    dataset = "fsdd"          # fsdd | shd | ssc | nmnist | braille
    dt_ms = 10.0
    duration_ms = 1000.0
    [data.options]            # passed to neurolearn.datasets.load_dataset
    channels = 64

    [network]
    model = "lif"             # zoo name or path of a model file
    hidden = [128]
    recurrent = true

    [heterogeneity]
    configuration = "het_init_het_train"   # one of the four Perez-Nieves et al. 2021 set-ups
    distribution = "gamma"

    [optimizer]
    lr_weights = 2e-3
    lr_tau = 2e-2

    [training]
    epochs = 20
    batch_size = 64
    seed = 0

``neurolearn train CONFIG.toml --out DIR`` (or :func:`train_from_config`) writes into ``DIR``:

``config.toml``
    The configuration with every default filled in.
``metrics.csv``
    One row per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss``,
    ``val_accuracy``, learning rates, and the mean learned time constants.
``checkpoint.pt``
    Model, optimiser and random-number-generator states after the last completed epoch,
    with the augmentation's and every callback's state, replaced atomically at the end of
    every epoch; ``--resume`` continues from it.
``network.h5``
    The trained network in the torch bridge's file format
    (:func:`neurolearn.bridge.save_network`, HDF5 + JSON, no pickle).
``parameters.csv``
    One row per neuron: ``layer``, ``neuron`` and every per-neuron parameter with its unit as
    a suffix (``tau_m_ms``, ``tau_syn_ms``, ``v_th_mV``...).
``summary.json``
    Test accuracy of the final network, wall time, the number of epochs.
``learning_curves.{pdf,svg,png}``
    Loss and accuracy per epoch.

Determinism: Python's, NumPy's and torch's generators are seeded from ``training.seed``; the
order of samples in epoch ``e`` comes from a :class:`torch.Generator` seeded with
``(seed, e)``, the augmentation draws from a generator of its own seeded with ``(seed, e)``
as well (:class:`~neurolearn.training.transforms.SpikeAugmentation`), and every generator
state is stored in the checkpoint, so an interrupted run
resumed with ``--resume`` produces the same numbers as an uninterrupted one (a run killed
mid-epoch loses that epoch only).

References
----------
Neftci, Mostafa & Zenke (2019) IEEE Signal Process. Mag. 36:51 (surrogate-gradient learning);
Zenke & Vogels (2021) Neural Comput. 33:899 (loss on the readout maximum over time, firing-rate
regularisation); Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun. 12:5791 (trained
per-neuron time constants; the four configurations).

Modules
-------
:mod:`.config` (schema, validation, TOML), :mod:`.rng` (seeding, generator states),
:mod:`.transforms` (augmentation), :mod:`.data` (datasets and batches of a configuration),
:mod:`.trainer` (the loop: :class:`Trainer`, :func:`train_network`), :mod:`.callbacks` (what
the loop does besides training: checkpoints, ``metrics.csv``, learning-rate schedule,
parameter projection, statistics, progress bars), :mod:`.optim` (optimisers and schedules by
name), :mod:`.outputs` (``metrics.csv``, ``network.h5``, ``parameters.csv``, learning
curves), :mod:`.recipe` (network, loss, predictor, regulariser, augmentation and optimiser
settings of a configuration), :mod:`.run` (:func:`train_from_config`), :mod:`.evaluation`
(the test set of a trained run in Brian2, compared with torch: :func:`evaluate_run`).
"""

from .callbacks import Callback
from .config import (
    CONFIG_SCHEMA,
    ConfigError,
    TrainingConfig,
    config_from_dict,
    default_config,
    describe_key,
    load_config,
    resolve_device,
)
from .data import load_data, load_test_set
from .evaluation import evaluate_run
from .outputs import (
    METRIC_COLUMNS,
    network_parameters,
    plot_learning_curves,
    read_metrics,
    write_parameters_csv,
)
from .recipe import (
    build_augmentation,
    build_network,
    prediction_fn,
    readout_loss_fn,
    training_options,
)
from .rng import seed_everything
from .run import train_from_config
from .trainer import Trainer, TrainingResult, evaluate_model, train_network
from .transforms import SpikeAugmentation, augment_spikes

__all__ = [
    "ConfigError",
    "CONFIG_SCHEMA",
    "TrainingConfig",
    "load_config",
    "config_from_dict",
    "default_config",
    "describe_key",
    "seed_everything",
    "resolve_device",
    "train_network",
    "TrainingResult",
    "Trainer",
    "Callback",
    "augment_spikes",
    "SpikeAugmentation",
    "build_augmentation",
    "evaluate_model",
    "evaluate_run",
    "train_from_config",
    "load_data",
    "load_test_set",
    "build_network",
    "training_options",
    "network_parameters",
    "readout_loss_fn",
    "prediction_fn",
    "read_metrics",
    "write_parameters_csv",
    "plot_learning_curves",
    "METRIC_COLUMNS",
]
