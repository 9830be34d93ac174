"""Random tank targets for simulation: circles, polygons and smooth blobs, resistive or conductive.

The KTC2023 targets are one to three plastic (resistive) or metal (conductive)
objects in the saline tank.  :func:`random_target` draws a target of that kind
(non-overlapping shapes, each of random class and conductivity ratio) and
:func:`simulate_level` turns it into difference data of one level: voltages of a
(finer) forward model with the target minus those of the empty tank, Gaussian
noise of a :class:`~femeit.noise_model.NoiseModel`, and NaN on the rows of the
level's removed electrodes.  Used to choose the classical pipeline's settings
and to score pipelines on targets nobody has seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError
from femeit.ktc2023.reader import IMAGE_SHAPE, RADIUS

WALL_GAP = 0.008
"""Smallest distance from a shape to the tank wall, m."""
SHAPE_GAP = 0.008
"""Smallest distance between two shapes' bounding circles, m."""


@dataclass(frozen=True)
class Shape:
    """A star-shaped object about ``centre``: boundary radius ``r(theta)`` sampled at ``n`` angles (closed polygon).

    Attributes
    ----------
    centre : ndarray, shape (2,)
        m.
    vertices : ndarray, shape (n, 2)
        Polygon vertices relative to the centre, m, counter-clockwise in angle.
    label : int
        1 resistive, 2 conductive.
    ratio : float
        Conductivity relative to the water.
    """

    centre: np.ndarray
    vertices: np.ndarray
    label: int
    ratio: float

    @property
    def reach(self) -> float:
        """Largest vertex distance from the centre, m."""
        return float(np.linalg.norm(self.vertices, axis=1).max())

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether each point (shape (n, 2), m) lies inside: a ray from the centre meets the polygon edge beyond it."""
        d = np.asarray(points, float) - self.centre
        ang = np.mod(np.arctan2(d[:, 1], d[:, 0]), 2 * np.pi)
        va = np.mod(np.arctan2(self.vertices[:, 1], self.vertices[:, 0]), 2 * np.pi)
        order = np.argsort(va)
        va, vx = va[order], self.vertices[order]
        i = np.searchsorted(va, ang) % len(va)  # edge from vertex i-1 to i
        a, b = vx[i - 1], vx[i]
        u = np.column_stack([np.cos(ang), np.sin(ang)])
        e = b - a
        # The ray r u meets the line a + t (b - a) at r = (a x b) / (u x e).
        den = u[:, 0] * e[:, 1] - u[:, 1] * e[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            r_edge = (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) / den
        return np.linalg.norm(d, axis=1) <= np.where(np.isfinite(r_edge), np.abs(r_edge), 0.0)


def _outline(rng: np.random.Generator, size: float) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:  # circle
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        r = np.full_like(t, size)
    elif kind == 1:  # polygon of 3-6 corners, jittered
        n = int(rng.integers(3, 7))
        t = np.sort(np.mod(np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(-0.3, 0.3, n), 2 * np.pi))
        t = np.mod(t + rng.uniform(0, 2 * np.pi), 2 * np.pi)
        r = size * rng.uniform(0.75, 1.0, n)
    else:  # smooth blob: a few Fourier modes of the radius
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        k = np.arange(2, 5)
        amp = rng.uniform(0, 0.25, len(k)) / k
        r = 1 + (amp[:, None] * np.cos(k[:, None] * t + rng.uniform(0, 2 * np.pi, len(k))[:, None])).sum(axis=0)
        r = size * r / r.max()
    return np.column_stack([r * np.cos(t), r * np.sin(t)])


def random_target(rng: np.random.Generator, max_objects: int = 3, size=(0.012, 0.04)) -> list[Shape]:
    """One to ``max_objects`` non-overlapping shapes inside the tank, each resistive or conductive at random.

    Parameters
    ----------
    rng : numpy Generator
    max_objects : int
        At least 1.
    size : (float, float)
        Range of the shapes' outer radius, m.

    Returns
    -------
    list of Shape
        Resistive ratios 10^U(-4, -2), conductive 10^U(2, 4) (plastic and metal in saline).
    """
    if max_objects < 1:
        raise FemeitError(f"max_objects must be at least 1, got {max_objects}")
    n = int(rng.integers(1, max_objects + 1))
    shapes: list[Shape] = []
    for _ in range(200 * n):
        if len(shapes) == n:
            break
        size_ = rng.uniform(*size)
        reach = RADIUS - WALL_GAP - size_
        c = rng.uniform(-reach, reach, 2)
        if np.linalg.norm(c) > reach:
            continue
        if any(np.linalg.norm(c - s.centre) < size_ + s.reach + SHAPE_GAP for s in shapes):
            continue
        label = int(rng.integers(1, 3))
        ratio = 10 ** rng.uniform(-4, -2) if label == 1 else 10 ** rng.uniform(2, 4)
        shapes.append(Shape(c, _outline(rng, size_), label, float(ratio)))
    return shapes


def pixel_centres(shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """Centres of the challenge's pixels over [-R, R]^2, row 0 at the top (+y), shape (ny * nx, 2), m."""
    ny, nx = shape
    x = -RADIUS + (np.arange(nx) + 0.5) * 2 * RADIUS / nx
    y = RADIUS - (np.arange(ny) + 0.5) * 2 * RADIUS / ny
    xx, yy = np.meshgrid(x, y)
    return np.column_stack([xx.ravel(), yy.ravel()])


def truth_image(shapes: list[Shape], shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """The target's segmentation on the challenge's pixels, shape (256, 256): 0 water, 1 resistive, 2 conductive."""
    pts = pixel_centres(shape)
    labels = np.zeros(len(pts), dtype=np.int64)
    for s in shapes:
        labels[s.contains(pts)] = s.label
    return labels.reshape(shape)


def element_conductivity(shapes: list[Shape], mesh, sigma0: float) -> np.ndarray:
    """Per-element conductivity of the target on ``mesh`` (element centroids), S/m, shape (n_elements,)."""
    centroids = mesh.points[mesh.elements].mean(axis=1)[:, :2]
    sigma = np.full(len(centroids), float(sigma0))
    for s in shapes:
        sigma[s.contains(centroids)] = sigma0 * s.ratio
    return sigma


def simulate_targets(reference_model, sigma0: float, n: int, seed: int, fine_h: float = 0.004) -> list:
    """``n`` random targets simulated on a finer tank mesh than the imaging one (no inverse crime).

    Parameters
    ----------
    reference_model : ForwardModel
        The calibrated tank (its protocol and contact impedance are used).
    sigma0 : float
        Water conductivity, S (2D).
    n : int
        Number of targets.
    seed : int
        Seed of the shapes (:func:`random_target`).
    fine_h : float
        Bulk element size of the simulation mesh, m.

    Returns
    -------
    list of (truth, dv)
        ``truth`` (256, 256) int labels; ``dv`` (n_rows,) noise-free target minus empty-tank voltages, V.
    """
    import warnings

    from femeit.forward.conditioning import ConditioningWarning
    from femeit.ktc2023.tank import tank_model

    fine = tank_model(reference_model.protocol, h=fine_h).with_contact_impedance(reference_model.contact_impedance)
    rng = np.random.default_rng(seed)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConditioningWarning)  # metal/plastic contrasts of 1e4: digits we do not need
        v0 = fine.simulate(sigma0)
        for _ in range(n):
            shapes = random_target(rng)
            out.append((truth_image(shapes), fine.simulate(element_conductivity(shapes, fine.mesh, sigma0)) - v0))
    return out


def add_noise(dv: np.ndarray, std: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noisy data of a level: ``dv + std * N(0, 1)`` on the usable rows, NaN on the others, shape (n_rows,)."""
    noisy = dv + std * rng.standard_normal(dv.shape)
    return np.where(mask, noisy, np.nan)
