"""Closed 2D outlines (ellipse, polygon, smooth curve through points) and their arc length.

An :class:`Outline` is the boundary of a 2D domain, or the cross-section of a
tank extruded along z.  It is a value (frozen, hashable, part of the mesh-cache
key) and knows how to place points on itself exactly: by arc length measured
counter-clockwise from its rightmost-on-the-+x-ray point, or by polar angle about
its area centroid.  Points returned lie on the curve itself (an ellipse point is
``(a cos t, b sin t)``, a spline point is the spline's value), so electrode ends
are exactly on the boundary; only the conversion from arc length to the curve
parameter goes through a dense table (8192 samples, relative arc-length error
below 1e-7 for smooth outlines).

The smooth curve through points is the periodic cubic spline that interpolates
the points in order, parametrised by cumulative chord length (the usual choice;
gmsh's ``Spline`` is also an interpolating cubic spline, and we hand gmsh pieces
of *our* spline, so both agree at every piece's sample points).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from femeit.errors import SpecError

_TABLE = 8192  # samples of the arc-length table
_CHECK = 384  # samples per outline for the self-intersection and distance checks


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Outline:
    """A closed curve in the (x, y) plane, m.

    Parameters
    ----------
    shape : {"ellipse", "polygon", "spline"}
        ``ellipse``: centre (``x``, ``y``), semi-axes ``a`` along x and ``b`` along y.
        ``polygon``: the straight-sided polygon through ``points``.
        ``spline``: the smooth periodic cubic spline through ``points``.
    a, b : float
        Ellipse semi-axes, m.
    x, y : float
        Ellipse centre, m.
    points : tuple of (x, y)
        Vertices (polygon) or interpolation points (spline), m, at least 3, in
        either orientation (the outline is always traversed counter-clockwise).
    """

    shape: Literal["ellipse", "polygon", "spline"] = "ellipse"
    a: float = 0.0
    b: float = 0.0
    x: float = 0.0
    y: float = 0.0
    points: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.shape not in ("ellipse", "polygon", "spline"):
            raise SpecError(f"Outline.shape must be 'ellipse', 'polygon' or 'spline', got {self.shape!r}")
        for key in ("a", "b", "x", "y"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise SpecError(f"Outline.{key} must be a finite number, got {value!r}")
            _set(self, key, float(value))
        try:
            pts = tuple((float(p[0]), float(p[1])) for p in self.points)
            bad = any(len(p) != 2 for p in self.points)
        except (TypeError, ValueError, IndexError):
            raise SpecError(f"Outline.points must be a list of [x, y] pairs, got {self.points!r}") from None
        if bad or not all(math.isfinite(v) for p in pts for v in p):
            raise SpecError(f"Outline.points must be a list of finite [x, y] pairs, got {self.points!r}")
        if self.shape == "ellipse":
            if self.a <= 0 or self.b <= 0:
                raise SpecError(f"Outline ellipse needs positive semi-axes a and b, got a={self.a}, b={self.b}")
            if pts:
                raise SpecError("Outline ellipse takes a, b (and x, y), not points")
            _set(self, "points", ())
            return
        if len(pts) < 3:
            raise SpecError(f"Outline {self.shape} needs at least 3 points, got {len(pts)}")
        if math.dist(pts[0], pts[-1]) == 0.0:
            pts = pts[:-1]  # a closing point repeating the first is allowed
        arr = np.asarray(pts)
        if _signed_area(arr) < 0:  # always counter-clockwise
            pts = pts[::-1]
            arr = arr[::-1]
        seg = np.linalg.norm(np.roll(arr, -1, axis=0) - arr, axis=1)
        if np.any(seg <= 1e-9 * max(float(np.ptp(arr)), 1e-300)):
            raise SpecError(f"Outline {self.shape} has repeated consecutive points")
        _set(self, "points", pts)
        crossing = _first_self_intersection(self.polyline(_CHECK) if self.shape == "spline" else arr)
        if crossing is not None:
            raise SpecError(
                f"Outline {self.shape} is self-intersecting (segments near ({crossing[0]:.4g}, {crossing[1]:.4g}) "
                "cross); list the points in order round the outline"
            )
        if abs(_signed_area(arr)) <= 0.0:
            raise SpecError(f"Outline {self.shape} encloses no area (its points are collinear)")

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, u: np.ndarray) -> np.ndarray:
        """Points of the curve at parameter values ``u`` (periodic), shape (n, 2), m."""
        u = np.asarray(u, dtype=float)
        if self.shape == "ellipse":
            return np.stack([self.x + self.a * np.cos(u), self.y + self.b * np.sin(u)], axis=-1)
        arr = np.asarray(self.points)
        n = len(arr)
        if self.shape == "polygon":
            u = np.mod(u, n)
            i = np.minimum(np.floor(u).astype(int), n - 1)
            f = (u - i)[..., None]
            return (1 - f) * arr[i] + f * arr[(i + 1) % n]
        spline, period = _spline(self.points)
        return spline(np.mod(u, period))

    @property
    def period(self) -> float:
        """Parameter period of :meth:`evaluate`."""
        if self.shape == "ellipse":
            return 2 * math.pi
        if self.shape == "polygon":
            return float(len(self.points))
        return _spline(self.points)[1]

    def polyline(self, n: int) -> np.ndarray:
        """``n`` points equally spaced in the parameter (polygon: its vertices and more), shape (n, 2)."""
        if self.shape == "polygon":
            return np.asarray(self.points)
        return self.evaluate(np.linspace(0.0, self.period, n, endpoint=False))

    # ------------------------------------------------------------------ arc length

    @property
    def perimeter(self) -> float:
        """Length of the outline, m."""
        return _table(self)[1][-1]

    @property
    def area(self) -> float:
        """Enclosed area, m^2 (exact for ellipse and polygon)."""
        if self.shape == "ellipse":
            return math.pi * self.a * self.b
        if self.shape == "polygon":
            return _signed_area(np.asarray(self.points))
        return _signed_area(self.polyline(_TABLE))

    @property
    def centroid(self) -> tuple[float, float]:
        """Area centroid, m: the centre of the polar angles of :meth:`arc_at_angle`."""
        if self.shape == "ellipse":
            return (self.x, self.y)
        p = np.asarray(self.points) if self.shape == "polygon" else self.polyline(_TABLE)
        q = np.roll(p, -1, axis=0)
        cross = p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]
        area = cross.sum() / 2
        return (
            float(((p[:, 0] + q[:, 0]) * cross).sum() / (6 * area)),
            float(((p[:, 1] + q[:, 1]) * cross).sum() / (6 * area)),
        )

    def parameter_at_arc(self, s: np.ndarray) -> np.ndarray:
        """Curve parameter at arc length ``s`` (m, taken modulo the perimeter)."""
        u, cum = _table(self)
        return np.interp(np.mod(np.asarray(s, dtype=float), cum[-1]), cum, u)

    def points_at_arc(self, s: np.ndarray) -> np.ndarray:
        """Points at arc length ``s`` from the start (counter-clockwise), shape (..., 2), m."""
        return self.evaluate(self.parameter_at_arc(s))

    def arc_of_parameter(self, u: np.ndarray) -> np.ndarray:
        """Arc length (m) from the start to parameter ``u`` in [0, period]."""
        uu, cum = _table(self)
        return np.interp(np.asarray(u, dtype=float), uu, cum)

    def normals_at_arc(self, s: np.ndarray) -> np.ndarray:
        """Outward unit normals at arc length ``s``, shape (..., 2)."""
        eps = 1e-6 * self.perimeter
        s = np.asarray(s, dtype=float)
        t = self.points_at_arc(s + eps) - self.points_at_arc(s - eps)
        t /= np.linalg.norm(t, axis=-1, keepdims=True)
        return np.stack([t[..., 1], -t[..., 0]], axis=-1)

    def arc_at_angle(self, angle_deg: np.ndarray) -> np.ndarray:
        """Arc length of the outline point seen at polar angle ``angle_deg`` from the centroid.

        Raises
        ------
        SpecError
            If the outline is not star-shaped about its centroid (a ray meets it twice).
        """
        u, cum = _table(self)
        cx, cy = self.centroid
        pts = self.evaluate(u)
        theta = np.unwrap(np.arctan2(pts[:, 1] - cy, pts[:, 0] - cx))
        if np.any(np.diff(theta) <= 0):
            raise SpecError(
                "electrodes placed by angle need an outline that every ray from its centroid "
                f"({cx:.4g}, {cy:.4g}) meets once; place them by arc length instead (place = 'arc')"
            )
        a = np.radians(np.asarray(angle_deg, dtype=float))
        a = theta[0] + np.mod(a - theta[0], 2 * math.pi)
        return np.interp(a, theta, cum)

    def distance(self, pts: np.ndarray) -> np.ndarray:
        """Distance from each point (shape (n, 2)) to the outline, m (the curve sampled finely)."""
        return _distance_to_polyline(np.atleast_2d(np.asarray(pts, dtype=float)), self.polyline(_TABLE))

    def contains(self, pts: np.ndarray) -> np.ndarray:
        """Whether each point (shape (n, 2)) lies strictly inside the outline."""
        return points_in_polygon(np.atleast_2d(np.asarray(pts, dtype=float)), self.polyline(_TABLE))


# ---------------------------------------------------------------------------- helpers


@functools.cache
def _spline(points: tuple[tuple[float, float], ...]):
    from scipy.interpolate import CubicSpline

    arr = np.asarray(points + points[:1])
    u = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(arr, axis=0), axis=1))])
    return CubicSpline(u, arr, bc_type="periodic"), float(u[-1])


@functools.cache
def _table(outline: Outline) -> tuple[np.ndarray, np.ndarray]:
    """(parameter, cumulative arc length) at ``_TABLE`` + 1 samples (polygon: its vertices)."""
    if outline.shape == "polygon":
        arr = np.asarray(outline.points)
        seg = np.linalg.norm(np.roll(arr, -1, axis=0) - arr, axis=1)
        return np.arange(len(arr) + 1, dtype=float), np.concatenate([[0.0], np.cumsum(seg)])
    u = np.linspace(0.0, outline.period, _TABLE + 1)
    pts = outline.evaluate(u)
    return u, np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])


def _signed_area(p: np.ndarray) -> float:
    q = np.roll(p, -1, axis=0)
    return float((p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]).sum() / 2)


def _cross(o, a, b):
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (b[..., 0] - o[..., 0])


def segments_cross(p1, p2, q1, q2) -> np.ndarray:
    """Whether segments p1-p2 and q1-q2 cross or touch (broadcast over leading axes)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return (d1 * d2 <= 0) & (d3 * d4 <= 0)


def _first_self_intersection(p: np.ndarray) -> tuple[float, float] | None:
    """A point near the first crossing of two non-adjacent edges of the closed polyline ``p``."""
    n = len(p)
    a, b = p, np.roll(p, -1, axis=0)
    i, j = np.triu_indices(n, k=2)
    keep = ~((i == 0) & (j == n - 1))  # the first and last edges share a vertex
    i, j = i[keep], j[keep]
    hit = segments_cross(a[i], b[i], a[j], b[j])
    if not hit.any():
        return None
    k = int(np.argmax(hit))
    return tuple(float(v) for v in (a[i[k]] + b[i[k]]) / 2)


def polylines_cross(p: np.ndarray, q: np.ndarray) -> bool:
    """Whether two closed polylines have crossing or touching edges."""
    pa, pb = p[:, None], np.roll(p, -1, axis=0)[:, None]
    qa, qb = q[None], np.roll(q, -1, axis=0)[None]
    return bool(segments_cross(pa, pb, qa, qb).any())


def points_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule: whether each point (n, 2) lies inside the closed polyline ``poly`` (m, 2)."""
    a, b = poly[None], np.roll(poly, -1, axis=0)[None]
    x, y = pts[:, None, 0], pts[:, None, 1]
    straddle = (a[..., 1] > y) != (b[..., 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xcross = a[..., 0] + (y - a[..., 1]) * (b[..., 0] - a[..., 0]) / (b[..., 1] - a[..., 1])
    return (np.count_nonzero(straddle & (x < xcross), axis=1) % 2) == 1


def _distance_to_polyline(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    a, b = poly, np.roll(poly, -1, axis=0)
    d = b - a
    out = np.full(len(pts), np.inf)
    for start in range(0, len(pts), 256):  # in blocks, to bound the memory of the point x edge table
        p = pts[start : start + 256, None, :]
        t = np.clip(((p - a) * d).sum(-1) / (d * d).sum(-1), 0.0, 1.0)
        out[start : start + 256] = np.linalg.norm(p - (a + t[..., None] * d), axis=-1).min(axis=1)
    return out
