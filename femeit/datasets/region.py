"""The horizontal cross-section of a dataset's sensor: where objects may go and what the image covers.

Circular sensors (``circle``, ``cylinder``) are disks centred at the origin;
outline sensors (``contour``, ``extruded``) have any
:class:`~femeit.geometry.outline.Outline`.  Object centres are drawn uniformly
over the part of the cross-section at least ``clearance`` from the wall (exact
polar sampling for a disk, rejection sampling in the bounding box otherwise).
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError

KINDS = ("circle", "cylinder", "contour", "extruded")
_MAX_DRAWS = 10_000


class SensorRegion:
    """Cross-section of a dataset sensor spec (one of :data:`KINDS`)."""

    def __init__(self, spec) -> None:
        if spec.kind not in KINDS:
            raise FemeitError(f"datasets support {', '.join(KINDS)} sensors, got {spec.kind!r}")
        self.outline = getattr(spec, "outline", None)
        if self.outline is None:
            r = spec.radius
            self.extent = (-r, r, -r, r)
            self.fit_radius = r
        else:
            pts = self.outline.polyline(4096)
            (xmin, ymin), (xmax, ymax) = pts.min(axis=0), pts.max(axis=0)
            self.extent = (float(xmin), float(xmax), float(ymin), float(ymax))
            # The largest disk about the centroid that fits: a conservative
            # size for the configuration's fit and packing checks.
            self.fit_radius = float(self.outline.distance(np.array([self.outline.centroid]))[0])
        self.radius = None if self.outline is not None else spec.radius

    def inside(self, xy: np.ndarray) -> np.ndarray:
        """Whether points (n, 2) lie inside the cross-section."""
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        if self.outline is None:
            return np.hypot(xy[:, 0], xy[:, 1]) <= self.radius
        return self.outline.contains(xy)

    def draw_centre(self, rng: np.random.Generator, clearance: float) -> list[float] | None:
        """A centre uniformly distributed at least ``clearance`` inside the wall, or None if there is no room."""
        if self.outline is None:
            reach = self.radius - clearance
            rho = reach * np.sqrt(rng.random())  # uniform over the disk of radius reach
            phi = rng.uniform(0, 2 * np.pi)
            return [rho * np.cos(phi), rho * np.sin(phi)]  # as before: stores stay bit-identical
        xmin, xmax, ymin, ymax = self.extent
        for _ in range(_MAX_DRAWS):
            c = np.array([[rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)]])
            if self.outline.contains(c)[0] and self.outline.distance(c)[0] >= clearance:
                return [float(c[0, 0]), float(c[0, 1])]
        return None
