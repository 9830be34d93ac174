"""Geometry specifications: frozen dataclasses that describe a sensor.

A spec is a value: it holds only numbers and names, validates itself on
construction (so an impossible geometry fails before gmsh is started), and is
the key of the mesh cache.  Specs are built in Python or loaded from TOML with
:func:`femeit.geometry.load_spec`.

Units are SI (metres); angles are in degrees, and their names end in ``_deg``.
Electrode numbering starts at 0 in the API; the gmsh physical groups are named
``e01``..``eNN`` (1-based, as in the file formats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from femeit._checks import finite_number, whole_number
from femeit.errors import SpecError

# Smallest gap (relative to the local mesh size) we accept between two shapes
# that must not touch; below it gmsh would produce slivers or fail.
_MIN_GAP = 1e-9


def _finite(owner: str, name: str, value: float) -> float:
    return finite_number(f"{owner}.{name}", value, error=SpecError)


def _angle(owner: str, name: str, value: float) -> float:
    # Reduced modulo 360: at 1e17 degrees the spacing of the electrodes would
    # be lost in rounding (the spacing of doubles there is 16).
    return math.fmod(_finite(owner, name, value), 360.0)


def _positive(owner: str, name: str, value: float) -> float:
    return finite_number(f"{owner}.{name}", value, positive=True, error=SpecError)


def _non_negative(owner: str, name: str, value: float) -> float:
    return finite_number(f"{owner}.{name}", value, non_negative=True, error=SpecError)


# More electrodes than any instrument has; the pairwise electrode checks and
# the protocols grow with the square of the count.
MAX_ELECTRODES = 4096


def _count(owner: str, name: str, value: int, minimum: int = 1) -> int:
    value = whole_number(f"{owner}.{name}", value, minimum=minimum, error=SpecError)
    if name == "n_electrodes" and value > MAX_ELECTRODES:
        raise SpecError(f"{owner}.{name} = {value!r} is more than femeit supports ({MAX_ELECTRODES})")
    return value


def _optional_size(owner: str, name: str, value: float | None) -> float | None:
    return None if value is None else _positive(owner, name, value)


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their fields (int -> float, list -> tuple)
    # in __post_init__ through object.__setattr__.
    object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------- inclusions


@dataclass(frozen=True)
class CircleInclusion:
    """A disk inside a 2D domain, meshed conformally (region ``inclusion_<name>``).

    Parameters
    ----------
    x, y : float
        Centre, m.
    radius : float
        Radius, m.
    name : str
        Region suffix; empty means the 1-based position in the spec's list.
    """

    x: float
    y: float
    radius: float
    name: str = ""

    def __post_init__(self) -> None:
        _set(self, "x", _finite("CircleInclusion", "x", self.x))
        _set(self, "y", _finite("CircleInclusion", "y", self.y))
        _set(self, "radius", _positive("CircleInclusion", "radius", self.radius))


@dataclass(frozen=True)
class SphereInclusion:
    """A ball inside a 3D domain (region ``inclusion_<name>``); centre and radius in m."""

    x: float
    y: float
    z: float
    radius: float
    name: str = ""

    def __post_init__(self) -> None:
        for key in ("x", "y", "z"):
            _set(self, key, _finite("SphereInclusion", key, getattr(self, key)))
        _set(self, "radius", _positive("SphereInclusion", "radius", self.radius))


@dataclass(frozen=True)
class CylinderInclusion:
    """A vertical circular cylinder inside a 3D domain: axis at (x, y), from z0 to z1, m."""

    x: float
    y: float
    z0: float
    z1: float
    radius: float
    name: str = ""

    def __post_init__(self) -> None:
        for key in ("x", "y", "z0", "z1"):
            _set(self, key, _finite("CylinderInclusion", key, getattr(self, key)))
        _set(self, "radius", _positive("CylinderInclusion", "radius", self.radius))
        if self.z1 <= self.z0:
            raise SpecError(f"CylinderInclusion needs z1 > z0, got z0={self.z0}, z1={self.z1}")


@dataclass(frozen=True)
class BoxInclusion:
    """An axis-aligned box inside a 3D domain: corners (x0, y0, z0) and (x1, y1, z1), m."""

    x0: float
    y0: float
    z0: float
    x1: float
    y1: float
    z1: float
    name: str = ""

    def __post_init__(self) -> None:
        for key in ("x0", "y0", "z0", "x1", "y1", "z1"):
            _set(self, key, _finite("BoxInclusion", key, getattr(self, key)))
        for axis in "xyz":
            lo, hi = getattr(self, f"{axis}0"), getattr(self, f"{axis}1")
            if hi <= lo:
                raise SpecError(f"BoxInclusion needs {axis}1 > {axis}0, got {lo} and {hi}")


Inclusion3D = SphereInclusion | CylinderInclusion | BoxInclusion


def inclusion_names(owner: str, inclusions: tuple) -> tuple[str, ...]:
    """Region names ``inclusion_<name>`` (1-based index when unnamed), checked unique."""
    names = [f"inclusion_{inc.name or i + 1}" for i, inc in enumerate(inclusions)]
    if len(set(names)) != len(names):
        raise SpecError(f"{owner}.inclusions have repeated names: {names}")
    return tuple(names)


def _check_disjoint_2d(owner: str, inclusions: tuple[CircleInclusion, ...]) -> None:
    for i, a in enumerate(inclusions):
        for j in range(i + 1, len(inclusions)):
            b = inclusions[j]
            if math.hypot(a.x - b.x, a.y - b.y) <= a.radius + b.radius + _MIN_GAP:
                raise SpecError(f"{owner}.inclusions {i + 1} and {j + 1} overlap or touch")


def _bounding_box(inc: Inclusion3D) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    if isinstance(inc, SphereInclusion):
        r = inc.radius
        return (inc.x - r, inc.y - r, inc.z - r), (inc.x + r, inc.y + r, inc.z + r)
    if isinstance(inc, CylinderInclusion):
        r = inc.radius
        return (inc.x - r, inc.y - r, inc.z0), (inc.x + r, inc.y + r, inc.z1)
    return (inc.x0, inc.y0, inc.z0), (inc.x1, inc.y1, inc.z1)


def _max_radial_extent(inc: Inclusion3D) -> float:
    """Largest distance from the z axis reached by the inclusion."""
    if isinstance(inc, SphereInclusion | CylinderInclusion):
        return math.hypot(inc.x, inc.y) + inc.radius
    return max(math.hypot(x, y) for x in (inc.x0, inc.x1) for y in (inc.y0, inc.y1))


def _check_disjoint_3d(owner: str, inclusions: tuple[Inclusion3D, ...]) -> None:
    # Exact for two spheres; for other pairs we require disjoint bounding
    # boxes, which is conservative but never lets an overlap through.
    for i, a in enumerate(inclusions):
        for j in range(i + 1, len(inclusions)):
            b = inclusions[j]
            if isinstance(a, SphereInclusion) and isinstance(b, SphereInclusion):
                d = math.dist((a.x, a.y, a.z), (b.x, b.y, b.z))
                overlap = d <= a.radius + b.radius + _MIN_GAP
            else:
                (alo, ahi), (blo, bhi) = _bounding_box(a), _bounding_box(b)
                overlap = all(alo[k] < bhi[k] + _MIN_GAP and blo[k] < ahi[k] + _MIN_GAP for k in range(3))
            if overlap:
                raise SpecError(f"{owner}.inclusions {i + 1} and {j + 1} overlap or touch")


# --------------------------------------------------------------------------- circle


@dataclass(frozen=True)
class CircleSpec:
    """A 2D disk with electrodes on its boundary (a circular tank in 2D).

    Parameters
    ----------
    radius : float
        Disk radius, m.
    n_electrodes : int
        Number of electrodes, equally spaced.
    electrode_width : float
        Arc length of each electrode, m.  ``0`` makes point electrodes (one node each).
    first_angle_deg : float
        Polar angle of the centre of electrode 0, degrees from +x.
    direction : {"ccw", "cw"}
        Numbering direction of the electrodes.
    inclusions : tuple of CircleInclusion
        Disks meshed conformally as regions ``inclusion_*``.
    h : float, optional
        Target element size in the bulk, m (default ``radius / 16``).
    h_electrode : float, optional
        Element size on the electrodes, m (default ``min(h / 3, electrode_width / 4)``).
    """

    kind: ClassVar[str] = "circle"
    dim: ClassVar[int] = 2

    radius: float = 1.0
    n_electrodes: int = 16
    electrode_width: float = 0.1
    first_angle_deg: float = 90.0
    direction: Literal["ccw", "cw"] = "ccw"
    inclusions: tuple[CircleInclusion, ...] = ()
    h: float | None = None
    h_electrode: float | None = None

    def __post_init__(self) -> None:
        owner = "CircleSpec"
        _set(self, "radius", _positive(owner, "radius", self.radius))
        _set(self, "n_electrodes", _count(owner, "n_electrodes", self.n_electrodes))
        _set(self, "electrode_width", _non_negative(owner, "electrode_width", self.electrode_width))
        _set(self, "first_angle_deg", _angle(owner, "first_angle_deg", self.first_angle_deg))
        if self.direction not in ("ccw", "cw"):
            raise SpecError(f"{owner}.direction must be 'ccw' or 'cw', got {self.direction!r}")
        _set(self, "h", _optional_size(owner, "h", self.h))
        _set(self, "h_electrode", _optional_size(owner, "h_electrode", self.h_electrode))
        circumference = 2 * math.pi * self.radius
        pitch = circumference / self.n_electrodes
        if self.electrode_width >= pitch:
            raise SpecError(
                f"{owner}: {self.n_electrodes} electrodes of width {self.electrode_width} m overlap "
                f"(the centre-to-centre arc length is {pitch:.6g} m on a circumference of "
                f"{circumference:.6g} m); make electrode_width smaller than {pitch:.6g}"
            )
        incs = tuple(self.inclusions)
        _set(self, "inclusions", incs)
        for i, inc in enumerate(incs):
            if not isinstance(inc, CircleInclusion):
                raise SpecError(f"{owner}.inclusions[{i}] must be a CircleInclusion, got {type(inc).__name__}")
            if math.hypot(inc.x, inc.y) + inc.radius >= self.radius - _MIN_GAP:
                raise SpecError(
                    f"{owner}.inclusions[{i}] (centre ({inc.x}, {inc.y}), radius {inc.radius}) "
                    f"crosses or touches the boundary of the disk of radius {self.radius}"
                )
        _check_disjoint_2d(owner, incs)
        inclusion_names(owner, incs)

    @property
    def mesh_size(self) -> float:
        """Bulk element size actually used, m."""
        return self.h if self.h is not None else self.radius / 16

    @property
    def electrode_mesh_size(self) -> float:
        """Element size on the electrodes actually used, m."""
        if self.h_electrode is not None:
            return self.h_electrode
        if self.electrode_width > 0:
            return min(self.mesh_size / 3, self.electrode_width / 4)
        return self.mesh_size / 3

    def electrode_angles_deg(self) -> list[float]:
        """Polar angle of each electrode centre, degrees, in electrode order."""
        sign = 1.0 if self.direction == "ccw" else -1.0
        step = 360.0 / self.n_electrodes
        return [self.first_angle_deg + sign * k * step for k in range(self.n_electrodes)]


# --------------------------------------------------------------------------- cylinder


@dataclass(frozen=True)
class ElectrodeRing:
    """A ring of equally spaced electrodes on the wall of a cylinder.

    Parameters
    ----------
    z : float
        Height of the electrode centres, m.
    n_electrodes : int
        Number of electrodes on this ring.
    shape : {"circle", "rectangle"}
        ``circle``: the part of the wall inside a radial cylinder of radius
        ``electrode_radius`` (a disk seen from the axis; its area on the curved
        wall exceeds pi r^2 by the factor computed in
        :func:`femeit.geometry.cylinder.circular_patch_area`).
        ``rectangle``: ``electrode_width`` of arc length by ``electrode_height``.
    electrode_radius : float
        Radius of circular electrodes, m.
    electrode_width, electrode_height : float
        Size of rectangular electrodes, m (arc length along the wall, and height).
    first_angle_deg : float
        Polar angle of electrode 0 of the ring, degrees from +x.
    direction : {"ccw", "cw"}
        Numbering direction (seen from +z).
    """

    z: float
    n_electrodes: int = 16
    shape: Literal["circle", "rectangle"] = "circle"
    electrode_radius: float = 0.01
    electrode_width: float = 0.02
    electrode_height: float = 0.02
    first_angle_deg: float = 0.0
    direction: Literal["ccw", "cw"] = "ccw"

    def __post_init__(self) -> None:
        owner = "ElectrodeRing"
        _set(self, "z", _finite(owner, "z", self.z))
        _set(self, "n_electrodes", _count(owner, "n_electrodes", self.n_electrodes))
        if self.shape not in ("circle", "rectangle"):
            raise SpecError(f"{owner}.shape must be 'circle' or 'rectangle', got {self.shape!r}")
        for key in ("electrode_radius", "electrode_width", "electrode_height"):
            _set(self, key, _positive(owner, key, getattr(self, key)))
        _set(self, "first_angle_deg", _angle(owner, "first_angle_deg", self.first_angle_deg))
        if self.direction not in ("ccw", "cw"):
            raise SpecError(f"{owner}.direction must be 'ccw' or 'cw', got {self.direction!r}")

    def angles_deg(self) -> list[float]:
        """Polar angle of each electrode centre, degrees."""
        sign = 1.0 if self.direction == "ccw" else -1.0
        return [self.first_angle_deg + sign * k * 360.0 / self.n_electrodes for k in range(self.n_electrodes)]

    def half_extent(self) -> tuple[float, float]:
        """Half the electrode's size along the wall: (arc length, height), m."""
        if self.shape == "circle":
            return self.electrode_radius, self.electrode_radius
        return self.electrode_width / 2, self.electrode_height / 2


@dataclass(frozen=True)
class CylinderSpec:
    """A 3D cylindrical tank, axis along z from 0 to ``height``, electrodes on the wall.

    Parameters
    ----------
    radius, height : float
        Tank size, m.
    rings : tuple of ElectrodeRing
        Electrode rings; electrodes are numbered ring by ring.
    inclusions : tuple of SphereInclusion, CylinderInclusion or BoxInclusion
        Meshed conformally as regions ``inclusion_*``.
    h : float, optional
        Bulk element size, m (default ``min(radius, height) / 8``).
    h_electrode : float, optional
        Element size on the electrodes, m (default a quarter of the electrode
        radius, or of the smaller side of a rectangle, and at most ``h / 2``).
    """

    kind: ClassVar[str] = "cylinder"
    dim: ClassVar[int] = 3

    radius: float = 0.1
    height: float = 0.1
    rings: tuple[ElectrodeRing, ...] = (ElectrodeRing(z=0.05),)
    inclusions: tuple[Inclusion3D, ...] = ()
    h: float | None = None
    h_electrode: float | None = None

    def __post_init__(self) -> None:
        owner = "CylinderSpec"
        _set(self, "radius", _positive(owner, "radius", self.radius))
        _set(self, "height", _positive(owner, "height", self.height))
        _set(self, "h", _optional_size(owner, "h", self.h))
        _set(self, "h_electrode", _optional_size(owner, "h_electrode", self.h_electrode))
        rings = tuple(self.rings)
        _set(self, "rings", rings)
        if not rings:
            raise SpecError(f"{owner}.rings must hold at least one ElectrodeRing")
        for i, ring in enumerate(rings):
            if not isinstance(ring, ElectrodeRing):
                raise SpecError(f"{owner}.rings[{i}] must be an ElectrodeRing, got {type(ring).__name__}")
            half_arc, half_z = ring.half_extent()
            if ring.z - half_z <= _MIN_GAP or ring.z + half_z >= self.height - _MIN_GAP:
                raise SpecError(
                    f"{owner}.rings[{i}]: electrodes at z={ring.z} with half-height {half_z} "
                    f"do not fit on the wall between z=0 and z={self.height}"
                )
            if 2 * half_arc >= 2 * math.pi * self.radius / ring.n_electrodes:
                raise SpecError(
                    f"{owner}.rings[{i}]: {ring.n_electrodes} electrodes {2 * half_arc} m wide overlap on a "
                    f"wall of circumference {2 * math.pi * self.radius:.6g} m"
                )
            if ring.shape == "circle" and ring.electrode_radius >= self.radius:
                raise SpecError(
                    f"{owner}.rings[{i}].electrode_radius {ring.electrode_radius} must be smaller than "
                    f"the tank radius {self.radius}"
                )
        self._check_rings_disjoint(rings)
        incs = tuple(self.inclusions)
        _set(self, "inclusions", incs)
        for i, inc in enumerate(incs):
            if not isinstance(inc, SphereInclusion | CylinderInclusion | BoxInclusion):
                raise SpecError(f"{owner}.inclusions[{i}] has unsupported type {type(inc).__name__}")
            lo, hi = _bounding_box(inc)
            if (
                _max_radial_extent(inc) >= self.radius - _MIN_GAP
                or lo[2] <= _MIN_GAP
                or hi[2] >= self.height - _MIN_GAP
            ):
                raise SpecError(
                    f"{owner}.inclusions[{i}] ({type(inc).__name__}) crosses or touches the tank wall, "
                    f"top or bottom (radius {self.radius}, height {self.height})"
                )
        _check_disjoint_3d(owner, incs)
        inclusion_names(owner, incs)

    def _check_rings_disjoint(self, rings: tuple[ElectrodeRing, ...]) -> None:
        # Electrodes of different rings overlap when their (arc, z) extents do.
        patches = []
        for i, ring in enumerate(rings):
            half_arc, half_z = ring.half_extent()
            for angle in ring.angles_deg():
                patches.append((i, math.radians(angle) * self.radius, ring.z, half_arc, half_z))
        circumference = 2 * math.pi * self.radius
        for a in range(len(patches)):
            for b in range(a + 1, len(patches)):
                ra, sa, za, wa, ha = patches[a]
                rb, sb, zb, wb, hb = patches[b]
                if ra == rb:
                    continue
                ds = abs((sa - sb + circumference / 2) % circumference - circumference / 2)
                if ds < wa + wb + _MIN_GAP and abs(za - zb) < ha + hb + _MIN_GAP:
                    raise SpecError(f"CylinderSpec.rings[{ra}] and rings[{rb}] have overlapping electrodes")

    @property
    def n_electrodes(self) -> int:
        """Total number of electrodes over all rings."""
        return sum(r.n_electrodes for r in self.rings)

    @property
    def mesh_size(self) -> float:
        """Bulk element size actually used, m."""
        return self.h if self.h is not None else min(self.radius, self.height) / 8

    @property
    def electrode_mesh_size(self) -> float:
        """Element size on the electrodes actually used, m."""
        if self.h_electrode is not None:
            return self.h_electrode
        # A quarter of the radius puts about 25 segments round a circular
        # electrode, so the polygonal patch loses well under 2 % of its area.
        smallest = min(r.electrode_radius if r.shape == "circle" else 2 * min(r.half_extent()) for r in self.rings)
        return min(self.mesh_size / 2, smallest / 4)


# --------------------------------------------------------------------------- half-space


@dataclass(frozen=True)
class HalfspaceLineSpec:
    """A linear electrode array on the surface (z = 0 in 3D, y = 0 in 2D) of a half-space.

    The infinite half-space is truncated to a box whose faces, except the
    surface, are insulating (Neumann).  The box reaches ``padding`` array lengths
    beyond the array on every side and ``padding`` array lengths deep, and the
    mesh grows geometrically away from the electrodes, so the truncation error on
    the transfer impedances of the array stays small at little cost (the forward
    issue measures it against the analytic half-space solution).

    Parameters
    ----------
    dim : {2, 3}
        2D section (x, y with y <= 0) or 3D box (x, y, z with z <= 0).
    n_electrodes : int
        Number of electrodes.
    spacing : float
        Centre-to-centre spacing, m.
    x_first : float, optional
        Position of electrode 0 on the x axis (default: the array is centred on 0).
    electrode_width : float
        ``0`` for point electrodes (one mesh node each); otherwise the length of a
        surface segment (2D) or the diameter of a surface disk (3D), m.
    padding : float
        Distance from the array to the truncated faces, in array lengths.
    survey_depth : float, optional
        Depth of the refined survey region under the array, m (default half the array length).
    inclusions : tuple
        ``CircleInclusion`` (2D; y is the centre height, negative below the
        surface) or ``SphereInclusion`` (3D; z negative), meshed conformally.
    h_electrode : float, optional
        Element size at the electrodes, m (default ``spacing / 8``, and at most a
        quarter of a segment electrode or of a disk electrode's radius).
    h_survey : float, optional
        Element size in the survey region, m (default ``spacing / 2``).
    h_far : float, optional
        Largest element size, at the truncated faces, m (default a fifth of the padding distance).
    h_inclusion : float, optional
        Element size on the inclusion surfaces, m (default ``radius / 6``).
    """

    kind: ClassVar[str] = "halfspace_line"

    dim: int = 3
    n_electrodes: int = 16
    spacing: float = 1.0
    x_first: float | None = None
    electrode_width: float = 0.0
    padding: float = 10.0
    survey_depth: float | None = None
    inclusions: tuple = ()
    h_electrode: float | None = None
    h_survey: float | None = None
    h_far: float | None = None
    h_inclusion: float | None = None

    def __post_init__(self) -> None:
        owner = "HalfspaceLineSpec"
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim not in (2, 3):
            raise SpecError(f"{owner}.dim must be 2 or 3 (a whole number), got {self.dim!r}")
        _set(self, "n_electrodes", _count(owner, "n_electrodes", self.n_electrodes, minimum=2))
        _set(self, "spacing", _positive(owner, "spacing", self.spacing))
        if self.x_first is not None:
            _set(self, "x_first", _finite(owner, "x_first", self.x_first))
        _set(self, "electrode_width", _non_negative(owner, "electrode_width", self.electrode_width))
        if self.electrode_width >= self.spacing:
            raise SpecError(f"{owner}: electrodes {self.electrode_width} m wide overlap at spacing {self.spacing} m")
        _set(self, "padding", _positive(owner, "padding", self.padding))
        for key in ("survey_depth", "h_electrode", "h_survey", "h_far", "h_inclusion"):
            _set(self, key, _optional_size(owner, key, getattr(self, key)))
        incs = tuple(self.inclusions)
        _set(self, "inclusions", incs)
        expected = CircleInclusion if self.dim == 2 else SphereInclusion
        lo, hi = self.box()
        for i, inc in enumerate(incs):
            if not isinstance(inc, expected):
                raise SpecError(f"{owner}.inclusions[{i}] must be a {expected.__name__} when dim={self.dim}")
            centre = (inc.x, inc.y) if self.dim == 2 else (inc.x, inc.y, inc.z)
            if centre[-1] + inc.radius >= -_MIN_GAP:
                raise SpecError(
                    f"{owner}.inclusions[{i}] (centre depth {-centre[-1]}, radius {inc.radius}) "
                    "crosses or touches the surface"
                )
            if any(c - inc.radius <= lo[k] or c + inc.radius >= hi[k] for k, c in enumerate(centre)):
                raise SpecError(f"{owner}.inclusions[{i}] reaches outside the truncated box {lo}..{hi}")
        if self.dim == 2:
            _check_disjoint_2d(owner, incs)
        else:
            _check_disjoint_3d(owner, incs)
        inclusion_names(owner, incs)

    @property
    def array_length(self) -> float:
        """Distance between the first and the last electrode, m."""
        return (self.n_electrodes - 1) * self.spacing

    def electrode_x(self) -> list[float]:
        """x position of each electrode centre, m."""
        x0 = -self.array_length / 2 if self.x_first is None else self.x_first
        return [x0 + k * self.spacing for k in range(self.n_electrodes)]

    @property
    def centre_x(self) -> float:
        """x of the middle of the array, m."""
        xs = self.electrode_x()
        return (xs[0] + xs[-1]) / 2

    def box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Lower and upper corners of the truncated domain, m."""
        half = self.array_length / 2 + self.padding * self.array_length
        depth = self.padding * self.array_length
        c = self.centre_x
        if self.dim == 2:
            return (c - half, -depth), (c + half, 0.0)
        return (c - half, -half, -depth), (c + half, half, 0.0)

    @property
    def sizes(self) -> dict[str, float]:
        """Mesh sizes actually used (electrode, survey, far, inclusion), m."""
        h_el = self.h_electrode if self.h_electrode is not None else self.spacing / 8
        if self.electrode_width > 0:
            # A quarter of the segment (2D) or of the disk radius (3D, about 25
            # segments round the rim, so the disk keeps its area within 2 %).
            h_el = min(h_el, self.electrode_width / (4 if self.dim == 2 else 8))
        h_sv = self.h_survey if self.h_survey is not None else self.spacing / 2
        h_far = self.h_far if self.h_far is not None else self.padding * self.array_length / 5
        return {"electrode": h_el, "survey": max(h_sv, h_el), "far": max(h_far, h_sv)}

    @property
    def depth_of_survey(self) -> float:
        """Depth of the refined region, m."""
        return self.survey_depth if self.survey_depth is not None else self.array_length / 2


# --------------------------------------------------------------------------- ball


@dataclass(frozen=True)
class BallRing:
    """A ring of equally spaced electrodes on a sphere.

    Parameters
    ----------
    polar_deg : float
        Polar angle of the ring from +z, degrees (90 is the equator).
    n_electrodes : int
        Electrodes on the ring.
    first_angle_deg : float
        Azimuth of electrode 0, degrees from +x.
    """

    polar_deg: float = 90.0
    n_electrodes: int = 16
    first_angle_deg: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "polar_deg", _finite("BallRing", "polar_deg", self.polar_deg))
        if not 0.0 < self.polar_deg < 180.0:
            raise SpecError(f"BallRing.polar_deg must lie strictly between 0 and 180, got {self.polar_deg}")
        _set(self, "n_electrodes", _count("BallRing", "n_electrodes", self.n_electrodes))
        _set(self, "first_angle_deg", _angle("BallRing", "first_angle_deg", self.first_angle_deg))


@dataclass(frozen=True)
class BallSpec:
    """A 3D ball centred at the origin with electrodes on rings.

    Parameters
    ----------
    radius : float
        Ball radius, m.
    rings : tuple of BallRing
        Electrode rings, numbered ring by ring.
    electrode_radius : float
        ``0`` for point electrodes; otherwise electrodes are spherical caps: the
        part of the sphere inside a radial cylinder of this radius, m.
    inner_radius : float
        Radius of a concentric inner sphere meshed conformally as region
        ``inclusion_inner``; ``0`` for none.
    h : float, optional
        Bulk element size, m (default ``radius / 8``).
    h_electrode : float, optional
        Element size at the electrodes, m (default ``h / 4``, and at most a
        quarter of the electrode radius).
    """

    kind: ClassVar[str] = "ball"
    dim: ClassVar[int] = 3

    radius: float = 1.0
    rings: tuple[BallRing, ...] = (BallRing(),)
    electrode_radius: float = 0.0
    inner_radius: float = 0.0
    h: float | None = None
    h_electrode: float | None = None

    def __post_init__(self) -> None:
        owner = "BallSpec"
        _set(self, "radius", _positive(owner, "radius", self.radius))
        _set(self, "electrode_radius", _non_negative(owner, "electrode_radius", self.electrode_radius))
        _set(self, "inner_radius", _non_negative(owner, "inner_radius", self.inner_radius))
        _set(self, "h", _optional_size(owner, "h", self.h))
        _set(self, "h_electrode", _optional_size(owner, "h_electrode", self.h_electrode))
        if self.inner_radius >= self.radius - _MIN_GAP:
            raise SpecError(f"{owner}.inner_radius {self.inner_radius} must be smaller than radius {self.radius}")
        rings = tuple(self.rings)
        _set(self, "rings", rings)
        if not rings:
            raise SpecError(f"{owner}.rings must hold at least one BallRing")
        if self.electrode_radius >= self.radius / 2:
            raise SpecError(f"{owner}.electrode_radius must be below half the ball radius, got {self.electrode_radius}")
        centres = self.electrode_centres()
        min_gap = 2 * self.electrode_radius + _MIN_GAP if self.electrode_radius > 0 else 1e-6 * self.radius
        for a in range(len(centres)):
            for b in range(a + 1, len(centres)):
                if math.dist(centres[a], centres[b]) < min_gap:
                    raise SpecError(f"{owner}: electrodes {a} and {b} overlap")

    def electrode_centres(self) -> list[tuple[float, float, float]]:
        """Electrode centres on the sphere, m."""
        out = []
        for ring in self.rings:
            theta = math.radians(ring.polar_deg)
            for k in range(ring.n_electrodes):
                phi = math.radians(ring.first_angle_deg) + 2 * math.pi * k / ring.n_electrodes
                out.append(
                    (
                        self.radius * math.sin(theta) * math.cos(phi),
                        self.radius * math.sin(theta) * math.sin(phi),
                        self.radius * math.cos(theta),
                    )
                )
        return out

    @property
    def n_electrodes(self) -> int:
        """Total number of electrodes."""
        return sum(r.n_electrodes for r in self.rings)

    @property
    def mesh_size(self) -> float:
        """Bulk element size actually used, m."""
        return self.h if self.h is not None else self.radius / 8

    @property
    def electrode_mesh_size(self) -> float:
        """Element size at the electrodes actually used, m."""
        if self.h_electrode is not None:
            return self.h_electrode
        if self.electrode_radius > 0:
            return min(self.mesh_size / 4, self.electrode_radius / 4)
        return self.mesh_size / 4


Spec = CircleSpec | CylinderSpec | HalfspaceLineSpec | BallSpec
SPEC_TYPES: dict[str, type] = {cls.kind: cls for cls in (CircleSpec, CylinderSpec, HalfspaceLineSpec, BallSpec)}

__all__ = [
    "SPEC_TYPES",
    "BallRing",
    "BallSpec",
    "BoxInclusion",
    "CircleInclusion",
    "CircleSpec",
    "CylinderInclusion",
    "CylinderSpec",
    "ElectrodeRing",
    "HalfspaceLineSpec",
    "Spec",
    "SphereInclusion",
]
