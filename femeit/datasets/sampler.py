"""Random phantoms that depend only on (root seed, sample index).

Each sample draws from its own generator, ``SeedSequence(seed, spawn_key=(index,))``,
so any sample can be recomputed alone, in any order, on any worker, and the
same seed gives the same dataset whatever the chunking or the number of
workers.  The object count of a sample comes from ``phantom.counts`` through
one permutation fixed by the seed (so a prefix of the dataset holds every count
in proportion), or is drawn uniformly from ``phantom.n_objects``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from femeit.datasets.config import DatasetConfig
from femeit.datasets.outlines import N_ANGLES, StarShape, random_outline
from femeit.datasets.region import SensorRegion
from femeit.errors import FemeitError
from femeit.phantom import Phantom, Sphere, VerticalCylinder

SPLITS = ("train", "validation", "test", "heldout")
MAX_ATTEMPTS = 200  # placement attempts per object before the sample restarts
MAX_RESTARTS = 100


@dataclass(frozen=True)
class Sample:
    """One random phantom: its objects and its split.

    Attributes
    ----------
    index : int
    objects : ndarray, shape (n_objects, dim + 2)
        Centre (dim, m), radius (m) and conductivity (S/m) of each object.
    split : int
        Index into :data:`SPLITS`.
    noise_seed : int
        Seed of the measurement noise of this sample.
    outlines : ndarray, shape (n_objects, N_ANGLES), optional
        Polar radii of each object's outline, m (``phantom.shape = "mixed"``;
        see :mod:`femeit.datasets.outlines`).
    """

    index: int
    objects: np.ndarray
    split: int
    noise_seed: int
    outlines: np.ndarray | None = None


class PhantomSampler:
    """Draws :class:`Sample` objects and turns them into :class:`~femeit.phantom.Phantom` objects."""

    def __init__(self, config: DatasetConfig):
        self.config = config
        self.spec = config.spec
        self.dim = self.spec.dim
        self.region = SensorRegion(self.spec)

    @cached_property
    def _count_order(self) -> np.ndarray | None:
        counts = self.config.phantom.counts
        if not counts:
            return None
        labels = np.repeat(np.array(list(counts), dtype=np.int64), list(counts.values()))
        rng = np.random.default_rng(np.random.SeedSequence(self.config.seed, spawn_key=(2**32 - 1,)))
        return labels[rng.permutation(len(labels))]

    def n_objects(self, index: int, rng: np.random.Generator) -> int:
        order = self._count_order
        if order is not None:
            if index >= len(order):
                raise FemeitError(f"sample {index} is beyond the {len(order)} samples fixed by phantom.counts")
            return int(order[index])
        low, high = self.config.phantom.n_objects
        return int(rng.integers(low, high + 1))

    def sample(self, index: int) -> Sample:
        """The phantom of sample ``index`` (a pure function of the seed and the index)."""
        if index < 0:
            raise FemeitError(f"sample index must be non-negative, got {index}")
        rng = np.random.default_rng(np.random.SeedSequence(self.config.seed, spawn_key=(index,)))
        count = self.n_objects(index, rng)
        objects = self._place(count, rng, index)
        u = rng.random()
        noise_seed = int(rng.integers(2**63))
        cfg = self.config
        if count in cfg.holdout:
            split = 3
        else:
            split = 1 if u < cfg.validation else (2 if u < cfg.validation + cfg.test else 0)
        # Drawn after everything above, so configurations without these options keep their samples.
        outlines = None
        if cfg.phantom.shape == "mixed":
            outlines = np.array([random_outline(rng, r) for r in objects[:, self.dim]]).reshape(-1, N_ANGLES)
        if cfg.phantom.both_signs:
            # Each object equally likely above the background: its conductivity mirrored in log scale.
            flip = rng.random(len(objects)) < 0.5
            objects[flip, -1] = cfg.phantom.background**2 / objects[flip, -1]
        return Sample(index, objects, split, noise_seed, outlines)

    def _place(self, count: int, rng: np.random.Generator, index: int) -> np.ndarray:
        cfg = self.config.phantom
        spec = self.spec
        rods = cfg.shape == "cylinder"
        for _ in range(MAX_RESTARTS):
            objects = []
            for _ in range(count):
                for _ in range(MAX_ATTEMPTS):
                    r = rng.uniform(*cfg.radius)
                    centre = self.region.draw_centre(rng, cfg.margin + r)
                    if centre is None:
                        continue
                    if self.dim == 3:
                        lo, hi = (0.0, spec.height) if rods else (cfg.margin + r, spec.height - cfg.margin - r)
                        centre.append((lo + hi) / 2 if rods else rng.uniform(lo, hi))
                    if cfg.overlap or all(
                        np.linalg.norm(np.subtract(centre[:2] if rods else centre, o[: 2 if rods else self.dim]))
                        >= r + o[self.dim] + cfg.min_gap
                        for o in objects
                    ):
                        sigma = _log_uniform(rng, cfg.conductivity)
                        objects.append([*centre, r, sigma])
                        break
                else:
                    break  # this object found no room: start the sample again
            if len(objects) == count:
                return np.array(objects, dtype=float).reshape(count, self.dim + 2)
        raise FemeitError(
            f"sample {index}: could not place {count} objects without overlap after {MAX_RESTARTS} tries; "
            "lower phantom.n_objects / phantom.counts, phantom.radius or phantom.min_gap"
        )

    def phantom(self, sample: Sample) -> Phantom:
        """The conductivity phantom of a sample."""
        cfg = self.config.phantom
        shapes = []
        for k, row in enumerate(sample.objects):
            centre, r, sigma = row[: self.dim], row[self.dim], row[self.dim + 1]
            if cfg.shape == "mixed":
                shapes.append((StarShape(tuple(centre), sample.outlines[k]), sigma))
            elif cfg.shape == "cylinder":
                shapes.append((VerticalCylinder(tuple(centre[:2]), r, 0.0, self.spec.height), sigma))
            else:
                shapes.append((Sphere(tuple(centre), r), sigma))
        return Phantom(cfg.background, tuple(shapes))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    if low == high:
        return low
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))
