"""Conductivity phantoms: simple shapes with values, sampled onto any mesh or grid.

A :class:`Phantom` is a background conductivity and an ordered tuple of
``(shape, value)`` pairs; where shapes overlap, the later one wins.  It gives
the conductivity at points (:meth:`Phantom.evaluate`) and per element of a mesh
by area or volume fraction (:meth:`Phantom.on_mesh`), so data can be simulated
on a forward mesh that does not follow the shapes (avoiding the inverse crime
of a conformal inversion mesh) and compared with a reconstruction on another
grid (:meth:`Phantom.on_grid`).

Fractions are sampled like the overlap fractions of :mod:`femeit.grids`: each
element is split into 4^level (8^level) equal children by regular refinement
and each child takes the value at its centroid, so an element cut by a shape's
boundary is wrong by at most the measure of the children the boundary cuts.

Phantom shapes are analytic descriptions of a conductivity, independent of any
mesh; they are not the meshed inclusions of :mod:`femeit.geometry`
(``CircleInclusion``, ``SphereInclusion``), which become regions of the mesh.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from femeit._checks import finite_number
from femeit.errors import FemeitError


def _vector(name: str, value, dim: int | None = None) -> np.ndarray:
    v = np.asarray(value, dtype=float).ravel()
    if not np.all(np.isfinite(v)) or (dim is not None and len(v) != dim) or len(v) not in (2, 3):
        raise FemeitError(f"{name} must hold 2 or 3 finite coordinates, got {value!r}")
    return v


def _positive(name: str, value: float) -> float:
    return finite_number(name, value, positive=True)


@dataclass(frozen=True)
class Sphere:
    """A disk (2D) or ball (3D): ``|x - centre| <= radius`` (m)."""

    centre: tuple[float, ...]
    radius: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "centre", tuple(_vector("Sphere centre", self.centre)))
        object.__setattr__(self, "radius", _positive("Sphere radius", self.radius))

    @property
    def dim(self) -> int:
        return len(self.centre)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask, points of shape (n, dim)."""
        return np.sum((points - np.asarray(self.centre)) ** 2, axis=1) <= self.radius**2

    def boundary_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance from each point to the shape's boundary (or a lower bound of it), m."""
        return np.abs(np.linalg.norm(points - np.asarray(self.centre), axis=1) - self.radius)


@dataclass(frozen=True)
class Disk(Sphere):
    """A disk ``|x - centre| <= radius`` in the plane (m): a :class:`Sphere` with a 2D centre."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.centre) != 2:
            raise FemeitError(f"a Disk has a 2D centre, got {self.centre}; use Sphere in 3D")


@dataclass(frozen=True)
class Annulus:
    """A ring (2D) or spherical shell (3D): ``inner <= |x - centre| <= outer`` (m)."""

    centre: tuple[float, ...]
    inner: float
    outer: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "centre", tuple(_vector("Annulus centre", self.centre)))
        inner, outer = float(self.inner), _positive("Annulus outer radius", self.outer)
        if not (np.isfinite(inner) and 0 <= inner < outer):
            raise FemeitError(f"Annulus needs 0 <= inner < outer, got inner={self.inner}, outer={self.outer}")
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "outer", outer)

    @property
    def dim(self) -> int:
        return len(self.centre)

    def contains(self, points: np.ndarray) -> np.ndarray:
        r2 = np.sum((points - np.asarray(self.centre)) ** 2, axis=1)
        return (r2 >= self.inner**2) & (r2 <= self.outer**2)

    def boundary_distance(self, points: np.ndarray) -> np.ndarray:
        r = np.linalg.norm(points - np.asarray(self.centre), axis=1)
        return np.minimum(np.abs(r - self.inner), np.abs(r - self.outer))


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle (2D) or box (3D): ``lower <= x <= upper`` (m)."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        lower = _vector("Box lower corner", self.lower)
        upper = _vector("Box upper corner", self.upper, len(lower))
        if np.any(upper <= lower):
            raise FemeitError(f"Box needs lower < upper in every coordinate, got {self.lower}, {self.upper}")
        object.__setattr__(self, "lower", tuple(lower))
        object.__setattr__(self, "upper", tuple(upper))

    @property
    def dim(self) -> int:
        return len(self.lower)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return np.all((points >= np.asarray(self.lower)) & (points <= np.asarray(self.upper)), axis=1)

    def boundary_distance(self, points: np.ndarray) -> np.ndarray:
        below, above = np.asarray(self.lower) - points, points - np.asarray(self.upper)
        outside = np.maximum(below, above).max(axis=1)  # a lower bound of the distance outside
        inside = np.minimum(-below, -above).min(axis=1)  # the exact distance inside
        return np.where(outside > 0, outside, inside)


@dataclass(frozen=True)
class HalfSpace:
    """Points on the positive side of a line (2D) or plane (3D): ``normal @ x >= offset``.

    A stratified layer: ``HalfSpace((0, 1), 0.01)`` is everything above y = 0.01 m
    (for a unit normal).
    """

    normal: tuple[float, ...]
    offset: float

    def __post_init__(self) -> None:
        normal = _vector("HalfSpace normal", self.normal)
        if np.linalg.norm(normal) == 0:
            raise FemeitError("HalfSpace normal must not be zero")
        object.__setattr__(self, "normal", tuple(normal))
        object.__setattr__(self, "offset", float(self.offset))

    @property
    def dim(self) -> int:
        return len(self.normal)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return points @ np.asarray(self.normal) >= self.offset

    def boundary_distance(self, points: np.ndarray) -> np.ndarray:
        normal = np.asarray(self.normal)
        return np.abs(points @ normal - self.offset) / np.linalg.norm(normal)


@dataclass(frozen=True)
class VerticalCylinder:
    """A 3D cylinder with its axis along z: ``|xy - centre| <= radius`` and ``zmin <= z <= zmax`` (m)."""

    centre: tuple[float, float]
    radius: float
    zmin: float
    zmax: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "centre", tuple(_vector("VerticalCylinder centre", self.centre, 2)))
        object.__setattr__(self, "radius", _positive("VerticalCylinder radius", self.radius))
        if not (np.isfinite(self.zmin) and np.isfinite(self.zmax) and self.zmin < self.zmax):
            raise FemeitError(f"VerticalCylinder needs zmin < zmax, got {self.zmin}, {self.zmax}")

    @property
    def dim(self) -> int:
        return 3

    def contains(self, points: np.ndarray) -> np.ndarray:
        r2 = np.sum((points[:, :2] - np.asarray(self.centre)) ** 2, axis=1)
        return (r2 <= self.radius**2) & (points[:, 2] >= self.zmin) & (points[:, 2] <= self.zmax)

    def boundary_distance(self, points: np.ndarray) -> np.ndarray:
        radial = np.linalg.norm(points[:, :2] - np.asarray(self.centre), axis=1) - self.radius
        axial = np.maximum(self.zmin - points[:, 2], points[:, 2] - self.zmax)
        outside = np.maximum(radial, axial)  # a lower bound of the distance outside
        return np.where(outside > 0, outside, -outside)


SHAPES = (Sphere, Annulus, Box, HalfSpace, VerticalCylinder)

_GEOMETRY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _element_geometry(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Element vertices (n, dim + 1, dim), centroids (n, dim) and centroid-to-vertex reach (n,), cached per mesh."""
    try:
        return _GEOMETRY[mesh]
    except (KeyError, TypeError):
        pass
    vertices = mesh.points[mesh.elements]
    centroids = vertices.mean(axis=1)
    reach = np.sqrt(((vertices - centroids[:, None, :]) ** 2).sum(axis=2).max(axis=1))
    geometry = (vertices, centroids, reach)
    try:
        _GEOMETRY[mesh] = geometry
    except TypeError:  # not weak-referenceable: no cache
        pass
    return geometry


@dataclass(frozen=True)
class Phantom:
    """A background conductivity with shapes of other conductivities, later shapes on top.

    Parameters
    ----------
    background : float
        Conductivity outside every shape, S/m (positive).
    inclusions : tuple of (shape, value)
        Shapes from :data:`SHAPES` (or anything with ``dim`` and ``contains(points)``)
        and their conductivity, S/m (positive).
    """

    background: float
    inclusions: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "background", _positive("Phantom background conductivity", self.background))
        items = []
        for k, item in enumerate(self.inclusions):
            try:
                shape, value = item
            except (TypeError, ValueError):
                raise FemeitError(f"inclusion {k} must be a (shape, value) pair, got {item!r}") from None
            if not hasattr(shape, "contains"):
                raise FemeitError(f"inclusion {k}: {shape!r} is not a shape (it has no contains method)")
            items.append((shape, _positive(f"conductivity of inclusion {k}", value)))
        dims = {s.dim for s, _ in items}
        if len(dims) > 1:
            raise FemeitError(f"all shapes of a phantom must have the same dimension, got {sorted(dims)}")
        object.__setattr__(self, "inclusions", tuple(items))

    @property
    def dim(self) -> int | None:
        """Dimension of the shapes (None for a homogeneous phantom)."""
        return self.inclusions[0][0].dim if self.inclusions else None

    def _check_dim(self, dim: int) -> None:
        if self.dim is not None and self.dim != dim:
            raise FemeitError(f"the phantom is {self.dim}D but the mesh or points are {dim}D")

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Conductivity at points, shape (n, dim) -> (n,), S/m."""
        points = np.asarray(points, dtype=float)
        self._check_dim(points.shape[1])
        out = np.full(len(points), self.background)
        for shape, value in self.inclusions:
            out[shape.contains(points)] = value
        return out

    def on_mesh(self, mesh, level: int = 3, chunk: int = 20000) -> np.ndarray:
        """Conductivity per element by area or volume fraction, shape (n_elements,), S/m.

        Parameters
        ----------
        mesh : EITMesh
        level : int
            Sampling refinement: 4^level (2D) or 8^level (3D) children per element.
        """
        from femeit.grids import reference_children

        self._check_dim(mesh.dim)
        if not self.inclusions:
            return np.full(mesh.n_elements, self.background)
        vertices, centroids, reach = _element_geometry(mesh)
        out = self.evaluate(centroids)
        # An element farther from every shape boundary than its farthest vertex
        # from its centroid lies wholly inside or outside each shape: its
        # centroid value is exact.  Only the others (a thin band) are sampled.
        cut = np.zeros(mesh.n_elements, dtype=bool)
        for shape, _ in self.inclusions:
            if hasattr(shape, "boundary_distance"):
                cut |= shape.boundary_distance(centroids) <= reach
            else:
                cut[:] = True
        cut_index = np.flatnonzero(cut)
        bary, weights = reference_children(mesh.dim, level)
        for start in range(0, len(cut_index), chunk):
            idx = cut_index[start : start + chunk]
            samples = np.einsum("sk,ckd->csd", bary, vertices[idx])
            values = self.evaluate(samples.reshape(-1, mesh.dim)).reshape(len(idx), -1)
            out[idx] = values @ weights
        return out

    def image(
        self,
        extent: tuple[float, float, float, float],
        shape: tuple[int, int],
        *,
        z: float | None = None,
        oversample: int = 4,
    ) -> np.ndarray:
        """The phantom on a pixel image, each pixel the mean over ``oversample^2`` sub-pixel points.

        Parameters
        ----------
        extent : (xmin, xmax, ymin, ymax)
            Image bounds, m.
        shape : (rows, columns)
            Row 0 is the top of the image (largest y), column 0 the left (smallest x).
        z : float, optional
            For a 3D phantom: the height of the horizontal slice, m.
        oversample : int
            Sub-pixel points per pixel side.  Pixels farther from every shape
            boundary than their half-diagonal take their centre value (exact).

        Returns
        -------
        ndarray, shape ``shape``, S/m
        """
        xmin, xmax, ymin, ymax = (float(v) for v in extent)
        rows, cols = (int(v) for v in shape)
        if not (xmax > xmin and ymax > ymin and rows > 0 and cols > 0 and oversample > 0):
            raise FemeitError(f"bad image extent {extent} or shape {shape}")
        dim = self.dim or (2 if z is None else 3)
        if (dim == 3) != (z is not None):
            raise FemeitError("a 3D phantom needs the slice height z (and a 2D one must not get it)")
        dx, dy = (xmax - xmin) / cols, (ymax - ymin) / rows
        yy, xx = np.meshgrid(ymax - (np.arange(rows) + 0.5) * dy, xmin + (np.arange(cols) + 0.5) * dx, indexing="ij")

        def lift(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.column_stack([x, y] if z is None else [x, y, np.full(x.shape, float(z))])

        centres = lift(xx.ravel(), yy.ravel())
        out = self.evaluate(centres)
        cut = np.zeros(len(out), dtype=bool)
        half_diagonal = 0.5 * np.hypot(dx, dy)
        for shape_, _ in self.inclusions:
            cut |= (
                (shape_.boundary_distance(centres) <= half_diagonal) if hasattr(shape_, "boundary_distance") else True
            )
        idx = np.flatnonzero(cut)
        if len(idx):
            offsets = (np.arange(oversample) + 0.5) / oversample - 0.5
            ox, oy = np.meshgrid(offsets * dx, offsets * dy)
            sx = (centres[idx, 0][:, None] + ox.ravel()).ravel()
            sy = (centres[idx, 1][:, None] + oy.ravel()).ravel()
            out[idx] = self.evaluate(lift(sx, sy)).reshape(len(idx), -1).mean(axis=1)
        return out.reshape(rows, cols)

    def on_grid(self, grid, mesh, level: int = 3) -> np.ndarray:
        """Conductivity per grid parameter (measure-weighted mean over the parameter), shape (n_params,)."""
        return grid.from_elements(self.on_mesh(mesh, level))
