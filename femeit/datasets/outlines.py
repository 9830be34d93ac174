"""Star-shaped random inclusions for datasets: circles, jittered polygons and smooth blobs.

``phantom.shape = "mixed"`` (2D) draws each object's outline with equal
probability as one of three kinds, all star-shaped about the object's centre
and inside its bounding circle of the drawn radius (so the non-overlap and wall
clearance tests on the bounding circles still hold):

* ``circle``: the bounding circle itself;
* ``polygon``: 3-6 corners at jittered, evenly spread angles, each at 0.75-1
  times the radius (plastic and metal blocks of the KTC2023 tank);
* ``blob``: a smooth closed curve, ``r(theta) = 1 + sum_k a_k cos(k theta + p_k)``
  for k = 2..4 with ``a_k ~ U(0, 0.25) / k``, scaled so that its largest radius
  is the drawn radius (hand-drawn-like shapes).

The outline is stored as 64 polar radii at equally spaced angles, so a sample
is fully described by a fixed-size row (see :class:`StarShape`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError

KINDS = ("circle", "polygon", "blob")
N_ANGLES = 64
"""Polar radii stored per outline (equally spaced angles from 0)."""
_ANGLES = np.linspace(0.0, 2 * np.pi, N_ANGLES, endpoint=False)


def _polygon_radii(rng: np.random.Generator, radius: float) -> np.ndarray:
    """Polar radius of a jittered 3-6 corner polygon at :data:`N_ANGLES` angles."""
    n = int(rng.integers(3, 7))
    corners = np.sort(np.mod(np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(-0.3, 0.3, n), 2 * np.pi))
    corners = np.mod(corners + rng.uniform(0, 2 * np.pi), 2 * np.pi)
    order = np.argsort(corners)
    t, r = corners[order], radius * rng.uniform(0.75, 1.0, n)[order]
    xy = np.column_stack([r * np.cos(t), r * np.sin(t)])
    # The ray at angle phi meets the edge from corner i-1 to corner i at rho = (a x b) / (u x (b - a)).
    i = np.searchsorted(t, _ANGLES) % n
    a, b = xy[i - 1], xy[i]
    u = np.column_stack([np.cos(_ANGLES), np.sin(_ANGLES)])
    e = b - a
    den = u[:, 0] * e[:, 1] - u[:, 1] * e[:, 0]
    return np.abs((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) / den)


def random_outline(rng: np.random.Generator, radius: float) -> np.ndarray:
    """Polar radii (m) of a random outline of outer radius ``radius``, shape (:data:`N_ANGLES`,).

    Parameters
    ----------
    rng : numpy Generator
    radius : float
        Outer (bounding-circle) radius, m.
    """
    kind = int(rng.integers(len(KINDS)))
    if kind == 0:
        return np.full(N_ANGLES, float(radius))
    if kind == 1:
        return _polygon_radii(rng, radius)
    k = np.arange(2, 5)
    amp = rng.uniform(0, 0.25, len(k)) / k
    phase = rng.uniform(0, 2 * np.pi, len(k))
    r = 1 + (amp[:, None] * np.cos(k[:, None] * _ANGLES + phase[:, None])).sum(axis=0)
    return radius * r / r.max()


@dataclass(frozen=True)
class StarShape:
    """A 2D region star-shaped about ``centre``: ``|x - c| <= rho(angle)``, rho linear between stored angles.

    Attributes
    ----------
    centre : tuple of float
        (x, y), m.
    radii : ndarray, shape (N_ANGLES,)
        Polar radius at angles ``2 pi k / N_ANGLES``, m (positive).
    """

    centre: tuple[float, float]
    radii: np.ndarray

    def __post_init__(self) -> None:
        r = np.asarray(self.radii, dtype=float)
        if r.shape != (N_ANGLES,) or not np.all(np.isfinite(r)) or np.any(r <= 0):
            raise FemeitError(f"a StarShape needs {N_ANGLES} positive finite radii, got shape {r.shape}")
        object.__setattr__(self, "radii", r)
        object.__setattr__(self, "centre", (float(self.centre[0]), float(self.centre[1])))

    @property
    def dim(self) -> int:
        return 2

    def _rho(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(points, dtype=float)[:, :2] - np.asarray(self.centre)
        angle = np.mod(np.arctan2(d[:, 1], d[:, 0]), 2 * np.pi)
        closed = np.append(self.radii, self.radii[0])
        return np.hypot(d[:, 0], d[:, 1]), np.interp(angle, np.append(_ANGLES, 2 * np.pi), closed)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask, points of shape (n, 2), m."""
        dist, rho = self._rho(points)
        return dist <= rho

    def boundary_distance(self, points: np.ndarray) -> np.ndarray:
        """A lower bound of the distance to the boundary, m: the distance to the annulus rho_min..rho_max."""
        dist = self._rho(points)[0]
        lo, hi = self.radii.min(), self.radii.max()
        return np.maximum(np.maximum(lo - dist, dist - hi), 0.0)
