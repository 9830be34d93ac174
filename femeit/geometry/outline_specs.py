"""Specs for sensors of any outline: a 2D domain (``contour``) or a tank extruded along z (``extruded``).

The outline is an :class:`~femeit.geometry.outline.Outline` (ellipse, polygon,
or smooth curve through points).  Electrodes sit in rings
(:class:`OutlineRing`) placed by polar angle about the outline's centroid or
equally spaced by arc length; in 2D they are points or arcs of the outline, in
3D circles or rectangles on the wall.  Inclusions are checked to lie inside the
outline (and between the bottom and top of a tank) and not to touch each other.

Units are SI (metres); angles are in degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from femeit._checks import finite_number, whole_number
from femeit.errors import SpecError
from femeit.geometry.outline import Outline, points_in_polygon, polylines_cross
from femeit.geometry.specs import (
    MAX_ELECTRODES,
    BoxInclusion,
    CircleInclusion,
    CylinderInclusion,
    SphereInclusion,
    inclusion_names,
)

# Smallest gap accepted between shapes that must not touch, m (as in femeit.geometry.specs).
_MIN_GAP = 1e-9


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses normalise their fields


def _finite(owner: str, name: str, value: float) -> float:
    return finite_number(f"{owner}.{name}", value, error=SpecError)


def _positive(owner: str, name: str, value: float) -> float:
    return finite_number(f"{owner}.{name}", value, positive=True, error=SpecError)


def _optional_size(owner: str, name: str, value: float | None) -> float | None:
    return None if value is None else _positive(owner, name, value)


def _angle(owner: str, name: str, value: float) -> float:
    return math.fmod(_finite(owner, name, value), 360.0)


def _count(owner: str, name: str, value: int) -> int:
    value = whole_number(f"{owner}.{name}", value, minimum=1, error=SpecError)
    if value > MAX_ELECTRODES:
        raise SpecError(f"{owner}.{name} = {value!r} is more than femeit supports ({MAX_ELECTRODES})")
    return value


_SAMPLES = 96  # points on an inclusion's footprint for the containment and overlap checks


def _points(owner: str, value) -> tuple[tuple[float, float], ...]:
    try:
        pts = tuple((float(p[0]), float(p[1])) for p in value)
        if any(len(p) != 2 for p in value) or not all(math.isfinite(c) for p in pts for c in p):
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise SpecError(f"{owner}.points must be a list of finite [x, y] pairs, got {value!r}") from None
    if len(pts) < 3:
        raise SpecError(f"{owner}.points needs at least 3 points, got {len(pts)}")
    return pts


# --------------------------------------------------------------------------- inclusions


@dataclass(frozen=True)
class EllipseInclusion:
    """An ellipse inside a 2D domain: centre (x, y), semi-axes a, b (m), rotated by ``angle_deg``."""

    x: float
    y: float
    a: float
    b: float
    angle_deg: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        for key in ("x", "y"):
            _set(self, key, _finite("EllipseInclusion", key, getattr(self, key)))
        for key in ("a", "b"):
            _set(self, key, _positive("EllipseInclusion", key, getattr(self, key)))
        _set(self, "angle_deg", _angle("EllipseInclusion", "angle_deg", self.angle_deg))


@dataclass(frozen=True)
class PolygonInclusion:
    """A polygon inside a 2D domain; ``points`` are its vertices (x, y), m."""

    points: tuple[tuple[float, float], ...]
    name: str = ""

    def __post_init__(self) -> None:
        _set(self, "points", Outline("polygon", points=_points("PolygonInclusion", self.points)).points)


@dataclass(frozen=True)
class EllipsoidInclusion:
    """An axis-aligned ellipsoid inside a 3D domain: centre (x, y, z), semi-axes a, b, c along x, y, z, m."""

    x: float
    y: float
    z: float
    a: float
    b: float
    c: float
    name: str = ""

    def __post_init__(self) -> None:
        for key in ("x", "y", "z"):
            _set(self, key, _finite("EllipsoidInclusion", key, getattr(self, key)))
        for key in ("a", "b", "c"):
            _set(self, key, _positive("EllipsoidInclusion", key, getattr(self, key)))


@dataclass(frozen=True)
class PrismInclusion:
    """A vertical prism inside a 3D domain: the polygon ``points`` (x, y), extruded from z0 to z1, m."""

    points: tuple[tuple[float, float], ...]
    z0: float
    z1: float
    name: str = ""

    def __post_init__(self) -> None:
        _set(self, "points", Outline("polygon", points=_points("PrismInclusion", self.points)).points)
        for key in ("z0", "z1"):
            _set(self, key, _finite("PrismInclusion", key, getattr(self, key)))
        if self.z1 <= self.z0:
            raise SpecError(f"PrismInclusion needs z1 > z0, got z0={self.z0}, z1={self.z1}")


INCLUSIONS_2D = (CircleInclusion, EllipseInclusion, PolygonInclusion)
INCLUSIONS_3D = (SphereInclusion, CylinderInclusion, BoxInclusion, EllipsoidInclusion, PrismInclusion)


def footprint(inc) -> np.ndarray:
    """The inclusion's outline seen from +z (its largest cross-section), shape (n, 2), m."""
    t = np.linspace(0, 2 * math.pi, _SAMPLES, endpoint=False)
    if isinstance(inc, CircleInclusion | SphereInclusion | CylinderInclusion):
        return np.stack([inc.x + inc.radius * np.cos(t), inc.y + inc.radius * np.sin(t)], axis=1)
    if isinstance(inc, EllipseInclusion):
        c, s = math.cos(math.radians(inc.angle_deg)), math.sin(math.radians(inc.angle_deg))
        u, v = inc.a * np.cos(t), inc.b * np.sin(t)
        return np.stack([inc.x + c * u - s * v, inc.y + s * u + c * v], axis=1)
    if isinstance(inc, EllipsoidInclusion):
        return np.stack([inc.x + inc.a * np.cos(t), inc.y + inc.b * np.sin(t)], axis=1)
    if isinstance(inc, BoxInclusion):
        return np.array([(inc.x0, inc.y0), (inc.x1, inc.y0), (inc.x1, inc.y1), (inc.x0, inc.y1)])
    return np.asarray(inc.points)


def z_range(inc) -> tuple[float, float]:
    """Lowest and highest z of a 3D inclusion, m."""
    if isinstance(inc, SphereInclusion):
        return inc.z - inc.radius, inc.z + inc.radius
    if isinstance(inc, EllipsoidInclusion):
        return inc.z - inc.c, inc.z + inc.c
    return inc.z0, inc.z1


def _check_inclusions(owner: str, outline: Outline, incs: tuple, allowed: tuple, height: float | None) -> None:
    for i, inc in enumerate(incs):
        if not isinstance(inc, allowed):
            names = ", ".join(c.__name__ for c in allowed)
            raise SpecError(f"{owner}.inclusions[{i}] must be one of {names}, got {type(inc).__name__}")
        fp = footprint(inc)
        # Inside the outline, and not touching it (a gap of 1e-6 of the perimeter).
        gap = 1e-6 * outline.perimeter
        if not points_in_polygon(fp, outline.polyline(4096)).all() or outline.distance(fp).min() <= gap:
            raise SpecError(f"{owner}.inclusions[{i}] ({type(inc).__name__}) crosses or touches the outline")
        if height is not None:
            lo, hi = z_range(inc)
            if lo <= _MIN_GAP or hi >= height - _MIN_GAP:
                raise SpecError(
                    f"{owner}.inclusions[{i}] ({type(inc).__name__}) reaches z in [{lo:.4g}, {hi:.4g}], "
                    f"crossing or touching the bottom or top of the tank (z = 0 and {height})"
                )
    # Two inclusions overlap when their footprints cross or nest and (3D) their
    # z ranges overlap; exact for 2D shapes and prisms, conservative for
    # spheres and ellipsoids (their footprint is their widest section), except
    # for two spheres, which are checked exactly.
    for i, a in enumerate(incs):
        for j in range(i + 1, len(incs)):
            b = incs[j]
            if isinstance(a, SphereInclusion) and isinstance(b, SphereInclusion):
                overlap = math.dist((a.x, a.y, a.z), (b.x, b.y, b.z)) <= a.radius + b.radius + _MIN_GAP
            else:
                if height is not None:
                    (alo, ahi), (blo, bhi) = z_range(a), z_range(b)
                    if alo >= bhi + _MIN_GAP or blo >= ahi + _MIN_GAP:
                        continue
                fa, fb = footprint(a), footprint(b)
                overlap = (
                    polylines_cross(fa, fb)
                    or bool(points_in_polygon(fa[:1], fb)[0])
                    or bool(points_in_polygon(fb[:1], fa)[0])
                )
            if overlap:
                raise SpecError(f"{owner}.inclusions {i + 1} and {j + 1} overlap or touch")
    inclusion_names(owner, incs)


# --------------------------------------------------------------------------- electrodes


@dataclass(frozen=True)
class OutlineRing:
    """A ring of electrodes on an outline (2D) or round the wall of an extruded tank (3D).

    Parameters
    ----------
    n_electrodes : int
        Electrodes on the ring.
    place : {"angle", "arc"}
        ``angle``: electrode k is centred where the ray from the outline's
        centroid at ``first_angle_deg +- k * 360 / n`` degrees meets the outline.
        ``arc``: electrodes equally spaced by arc length (perimeter / n),
        electrode 0 centred at the point seen at ``first_angle_deg``.
    first_angle_deg : float
        Polar angle of electrode 0 about the outline's centroid, degrees from +x.
    direction : {"ccw", "cw"}
        Numbering direction seen from +z.
    shape : {"point", "arc", "circle", "rectangle"}
        2D: ``point`` (one boundary node) or ``arc`` (``width`` of arc length).
        3D: ``circle`` (radius ``radius``, the part of the wall inside a
        cylinder along the wall's normal) or ``rectangle`` (``width`` of arc
        length by ``height``).
    width : float
        Arc length of an ``arc`` or ``rectangle`` electrode, m.
    height : float
        Height of a ``rectangle`` electrode, m.
    radius : float
        Radius of a ``circle`` electrode, m.
    z : float
        Height of the electrode centres (3D only), m.
    """

    n_electrodes: int = 16
    place: Literal["angle", "arc"] = "angle"
    first_angle_deg: float = 0.0
    direction: Literal["ccw", "cw"] = "ccw"
    shape: Literal["point", "arc", "circle", "rectangle"] = "arc"
    width: float = 0.02
    height: float = 0.02
    radius: float = 0.01
    z: float = 0.0

    def __post_init__(self) -> None:
        owner = "OutlineRing"
        _set(self, "n_electrodes", _count(owner, "n_electrodes", self.n_electrodes))
        if self.place not in ("angle", "arc"):
            raise SpecError(f"{owner}.place must be 'angle' or 'arc', got {self.place!r}")
        _set(self, "first_angle_deg", _angle(owner, "first_angle_deg", self.first_angle_deg))
        if self.direction not in ("ccw", "cw"):
            raise SpecError(f"{owner}.direction must be 'ccw' or 'cw', got {self.direction!r}")
        if self.shape not in ("point", "arc", "circle", "rectangle"):
            raise SpecError(f"{owner}.shape must be 'point', 'arc', 'circle' or 'rectangle', got {self.shape!r}")
        for key in ("width", "height", "radius"):
            _set(self, key, _positive(owner, key, getattr(self, key)))
        _set(self, "z", _finite(owner, "z", self.z))

    def centres(self, outline: Outline) -> np.ndarray:
        """Arc length of each electrode centre along the outline, m, in electrode order."""
        sign = 1.0 if self.direction == "ccw" else -1.0
        k = np.arange(self.n_electrodes)
        if self.place == "angle":
            return outline.arc_at_angle(self.first_angle_deg + sign * k * 360.0 / self.n_electrodes)
        s0 = float(outline.arc_at_angle(self.first_angle_deg))
        return np.mod(s0 + sign * k * outline.perimeter / self.n_electrodes, outline.perimeter)

    def half_extent(self) -> tuple[float, float]:
        """Half the electrode's size along the wall: (arc length, height), m; point electrodes (0, 0)."""
        if self.shape == "point":
            return 0.0, 0.0
        if self.shape == "circle":
            return self.radius, self.radius
        return self.width / 2, self.height / 2


def _check_electrodes(owner: str, outline: Outline, rings: tuple, shapes: tuple, height: float | None) -> None:
    if not rings:
        raise SpecError(f"{owner}.rings must hold at least one OutlineRing")
    perimeter = outline.perimeter
    patches = []  # (ring, index, arc centre, z, half arc, half height)
    for i, ring in enumerate(rings):
        if not isinstance(ring, OutlineRing):
            raise SpecError(f"{owner}.rings[{i}] must be an OutlineRing, got {type(ring).__name__}")
        if ring.shape not in shapes:
            raise SpecError(f"{owner}.rings[{i}].shape must be one of {shapes} here, got {ring.shape!r}")
        half_s, half_z = ring.half_extent()
        if height is not None and (ring.z - half_z <= _MIN_GAP or ring.z + half_z >= height - _MIN_GAP):
            raise SpecError(
                f"{owner}.rings[{i}]: electrodes at z = {ring.z} of half height {half_z} are off the wall "
                f"(the wall runs from z = 0 to {height})"
            )
        if 2 * half_s >= perimeter / 2:
            raise SpecError(
                f"{owner}.rings[{i}]: electrodes {2 * half_s} m wide do not fit on the outline of "
                f"perimeter {perimeter:.6g} m"
            )
        for k, s in enumerate(ring.centres(outline)):
            patches.append((i, k, float(s), ring.z, half_s, half_z))
    # Electrodes overlap when their (arc, z) extents do; point electrodes must
    # not coincide (one mesh node each).
    arr = np.array([p[2:] for p in patches])
    ds = np.abs(np.mod(arr[:, None, 0] - arr[None, :, 0] + perimeter / 2, perimeter) - perimeter / 2)
    need_s = arr[:, None, 2] + arr[None, :, 2] + max(_MIN_GAP, 1e-6 * perimeter)
    dz = np.abs(arr[:, None, 1] - arr[None, :, 1])
    need_z = arr[:, None, 3] + arr[None, :, 3] + _MIN_GAP
    clash = (ds < need_s) & ((dz < need_z) if height is not None else True)
    np.fill_diagonal(clash, False)
    if clash.any():
        a, b = np.argwhere(clash)[0]
        (ra, ka), (rb, kb) = patches[a][:2], patches[b][:2]
        raise SpecError(
            f"{owner}: electrode {ka} of rings[{ra}] and electrode {kb} of rings[{rb}] overlap "
            f"(centres {ds[a, b]:.4g} m apart along the outline); use fewer or smaller electrodes"
        )
    if outline.shape == "polygon":
        corners = outline.arc_of_parameter(np.arange(len(outline.points), dtype=float))
        for ring_i, k, s, _z, half_s, _hz in patches:
            if rings[ring_i].shape == "circle":
                d = np.abs(np.mod(corners - s + perimeter / 2, perimeter) - perimeter / 2)
                if (d < half_s).any():
                    raise SpecError(
                        f"{owner}: circular electrode {k} of rings[{ring_i}] lies across a corner of the polygon; "
                        "use rectangles there or move it"
                    )


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ContourSpec:
    """A 2D domain bounded by any outline, electrodes on the boundary.

    Parameters
    ----------
    outline : Outline
        The boundary.
    rings : tuple of OutlineRing
        Electrode rings (``point`` or ``arc`` shapes), numbered ring by ring.
    inclusions : tuple of CircleInclusion, EllipseInclusion or PolygonInclusion
        Meshed conformally as regions ``inclusion_*``.
    h : float, optional
        Bulk element size, m (default perimeter / 64).
    h_electrode : float, optional
        Element size on the electrodes, m (default ``min(h / 3, width / 4)``).
    """

    kind: ClassVar[str] = "contour"
    dim: ClassVar[int] = 2

    outline: Outline
    rings: tuple[OutlineRing, ...] = (OutlineRing(),)
    inclusions: tuple = ()
    h: float | None = None
    h_electrode: float | None = None

    def __post_init__(self) -> None:
        owner = "ContourSpec"
        if not isinstance(self.outline, Outline):
            raise SpecError(f"{owner}.outline must be an Outline, got {type(self.outline).__name__}")
        _set(self, "rings", tuple(self.rings))
        _set(self, "inclusions", tuple(self.inclusions))
        _set(self, "h", _optional_size(owner, "h", self.h))
        _set(self, "h_electrode", _optional_size(owner, "h_electrode", self.h_electrode))
        _check_electrodes(owner, self.outline, self.rings, ("point", "arc"), None)
        _check_inclusions(owner, self.outline, self.inclusions, INCLUSIONS_2D, None)

    @property
    def n_electrodes(self) -> int:
        """Total number of electrodes."""
        return sum(r.n_electrodes for r in self.rings)

    @property
    def mesh_size(self) -> float:
        """Bulk element size actually used, m."""
        return self.h if self.h is not None else self.outline.perimeter / 64

    @property
    def electrode_mesh_size(self) -> float:
        """Element size on the electrodes actually used, m."""
        if self.h_electrode is not None:
            return self.h_electrode
        widths = [r.width for r in self.rings if r.shape == "arc"]
        return min([self.mesh_size / 3] + [w / 4 for w in widths])

    def electrode_arcs(self) -> list[tuple[float, float]]:
        """(start, end) arc length of each electrode, m (equal for point electrodes), in electrode order."""
        return _arcs(self.outline, self.rings)


@dataclass(frozen=True)
class ExtrudedSpec:
    """A 3D tank: an outline extruded from z = 0 to ``height``, electrodes on the wall.

    Parameters
    ----------
    outline : Outline
        The horizontal cross-section.
    height : float
        Tank height, m.
    rings : tuple of OutlineRing
        Electrode rings (``circle`` or ``rectangle``) at heights ``z``, numbered ring by ring.
    inclusions : tuple
        ``SphereInclusion``, ``CylinderInclusion``, ``BoxInclusion``,
        ``EllipsoidInclusion`` or ``PrismInclusion``, meshed as regions ``inclusion_*``.
    h : float, optional
        Bulk element size, m (default ``min(perimeter / 32, height / 8)``).
    h_electrode : float, optional
        Element size on the electrodes, m (default a quarter of the smallest
        electrode side or radius, at most ``h / 2``).
    """

    kind: ClassVar[str] = "extruded"
    dim: ClassVar[int] = 3

    outline: Outline
    height: float = 0.1
    rings: tuple[OutlineRing, ...] = (OutlineRing(shape="rectangle", z=0.05),)
    inclusions: tuple = ()
    h: float | None = None
    h_electrode: float | None = None

    def __post_init__(self) -> None:
        owner = "ExtrudedSpec"
        if not isinstance(self.outline, Outline):
            raise SpecError(f"{owner}.outline must be an Outline, got {type(self.outline).__name__}")
        _set(self, "height", _positive(owner, "height", self.height))
        _set(self, "rings", tuple(self.rings))
        _set(self, "inclusions", tuple(self.inclusions))
        _set(self, "h", _optional_size(owner, "h", self.h))
        _set(self, "h_electrode", _optional_size(owner, "h_electrode", self.h_electrode))
        _check_electrodes(owner, self.outline, self.rings, ("circle", "rectangle"), self.height)
        _check_inclusions(owner, self.outline, self.inclusions, INCLUSIONS_3D, self.height)

    @property
    def n_electrodes(self) -> int:
        """Total number of electrodes."""
        return sum(r.n_electrodes for r in self.rings)

    @property
    def mesh_size(self) -> float:
        """Bulk element size actually used, m."""
        return self.h if self.h is not None else min(self.outline.perimeter / 32, self.height / 8)

    @property
    def electrode_mesh_size(self) -> float:
        """Element size on the electrodes actually used, m."""
        if self.h_electrode is not None:
            return self.h_electrode
        smallest = min(r.radius if r.shape == "circle" else min(r.width, r.height) for r in self.rings)
        return min(self.mesh_size / 2, smallest / 4)

    def electrode_arcs(self) -> list[tuple[float, float]]:
        """(start, end) arc length of each electrode's extent along the outline, m, in electrode order."""
        return _arcs(self.outline, self.rings)


def _arcs(outline: Outline, rings: tuple) -> list[tuple[float, float]]:
    p = outline.perimeter
    out = []
    for ring in rings:
        half = ring.half_extent()[0]
        out += [(float((s - half) % p), float((s + half) % p)) for s in ring.centres(outline)]
    return out
