"""Peak memory of training with the ``perez-nieves`` preset on files in the SHD layout: the
training set as the loop holds it (``bits``: :class:`neurolearn.datasets.PackedSpikeDataset`,
the default for 0/1 data; ``dense``: the former float32 tensor), the network, two training
batches (forward, backward, Adam step). Run under ``/usr/bin/time -v``::

    /usr/bin/time -v python benchmarks/preset_memory_probe.py bits FSDD/train.h5 FSDD/test.h5

(measured with dt 2 ms, 500 steps, batch 64: docs/results/data/perez_nieves_fsdd/memory.json).
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from perez_nieves_compare import preset_sections  # noqa: E402

from neurolearn.datasets import DenseSpikeDataset, time_major_loader  # noqa: E402
from neurolearn.training import config_from_dict  # noqa: E402
from neurolearn.training.data import load_data, training_set  # noqa: E402
from neurolearn.training.recipe import build_network  # noqa: E402


def main(mode: str, train_h5: str, test_h5: str) -> None:
    torch.set_num_threads(1)
    sections = preset_sections(train_h5, test_h5, "het_init_het_train", 1, 5)
    cfg = config_from_dict(sections)
    train, _, _ = load_data(cfg)
    t = time.time()
    ds = training_set(cfg, train) if mode == "bits" else DenseSpikeDataset(train)
    print(type(ds).__name__, f"binned in {time.time() - t:.1f} s", flush=True)
    net = build_network(cfg, train.n_channels, train.n_classes)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for k, (x, y) in enumerate(time_major_loader(ds, 64, shuffle=True, seed=0)):
        loss = torch.nn.functional.cross_entropy(net(x).max(0).values, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k == 1:
            break
    print("two batches done", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
