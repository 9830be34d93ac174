"""Synthetic datasets at scale: random phantoms, batch simulation, zarr storage, Dask scale-out.

Typical use::

    from femeit import datasets

    config = datasets.load_config("datasets/cnn_eim.toml")
    datasets.generate(config, "cnn_eim.zarr", n_samples=2000)   # resumable
    ds = datasets.open("cnn_eim.zarr")
    x, y = ds.eim[:128], ds.images[:128]

zarr (and Dask for ``scheduler=``) come with ``pip install 'femeit[datasets]'``;
they are imported only when a dataset is written or read.
"""

from femeit.datasets.config import DatasetConfig, config_from_dict, load_config
from femeit.datasets.runner import GenerateReport, VerifyReport, generate, verify
from femeit.datasets.sampler import SPLITS, PhantomSampler
from femeit.datasets.store import Dataset, open_dataset

open = open_dataset

__all__ = [
    "SPLITS",
    "Dataset",
    "DatasetConfig",
    "GenerateReport",
    "PhantomSampler",
    "VerifyReport",
    "config_from_dict",
    "generate",
    "load_config",
    "open",
    "open_dataset",
    "verify",
]
