"""Reconstruction grids: the parameters an inverse solver estimates, mapped to mesh elements.

Every grid gives a sparse matrix ``P`` of shape (n_elements, n_params) with
``sigma_elements = P @ x`` (plus the background where rows sum to less than 1)
and ``J_grid = J_elements @ P``.  ``P[e, j]`` is the fraction of element e's
area or volume that lies in cell j.

Overlap fractions are computed by sampling: each element is split into
``4^level`` (triangles) or ``8^level`` (tetrahedra) equal-measure children by
regular refinement, and each child is assigned to the cell holding its
centroid.  The fractions are exact for elements inside one cell; for an
element cut by a cell face the error is at most the measure of the children
the face cuts, O(2^-level) of the element.  Row sums and the total measure are
exact (each child is counted once).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import skfem

from femeit.errors import FemeitError
from femeit.mesh import EITMesh, element_measures


@functools.lru_cache(maxsize=16)
def reference_children(dim: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric coordinates (n_children, dim + 1) and measure fractions of the refined reference simplex.

    Cached (the arrays are read-only): phantoms sample thousands of meshes with it.
    """
    if dim == 2:
        # MeshTri() is the unit square split in two; keep the triangle x + y <= 1.
        ref = skfem.MeshTri(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), np.array([[0], [1], [2]])).refined(level)
    else:
        ref = skfem.MeshTet(np.array([[0.0, 1, 0, 0], [0.0, 0, 1, 0], [0.0, 0, 0, 1]]), np.array([[0], [1], [2], [3]]))
        ref = ref.refined(level)
    centroids = ref.p[:, ref.t].mean(axis=1).T  # (n_children, dim)
    weights = element_measures(ref.p.T, ref.t.T)
    bary = np.column_stack([1.0 - centroids.sum(axis=1), centroids])
    weights = weights / weights.sum()
    bary.flags.writeable = weights.flags.writeable = False
    return bary, weights


def overlap_matrix(mesh: EITMesh, locate, n_cells: int, level: int = 2, chunk: int = 20000) -> sp.csr_matrix:
    """Sparse (n_elements, n_cells) matrix of element-in-cell measure fractions.

    Parameters
    ----------
    mesh : EITMesh
    locate : callable
        Maps sample points (n, dim) to cell indices (n,), -1 outside every cell.
    n_cells : int
    level : int
        Refinement level of the sampling (4^level or 8^level children per element).
    """
    bary, weights = reference_children(mesh.dim, level)
    rows, cols, vals = [], [], []
    points, elements = mesh.points, mesh.elements
    for start in range(0, mesh.n_elements, chunk):
        elems = elements[start : start + chunk]
        x = points[elems]  # (c, dim + 1, dim)
        samples = np.einsum("sk,ckd->csd", bary, x)  # (c, n_children, dim)
        cells = locate(samples.reshape(-1, mesh.dim)).reshape(len(elems), -1)
        inside = cells >= 0
        e_idx = np.broadcast_to(np.arange(start, start + len(elems))[:, None], cells.shape)
        rows.append(e_idx[inside])
        cols.append(cells[inside])
        vals.append(np.broadcast_to(weights, cells.shape)[inside])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(mesh.n_elements, n_cells)
    )


@dataclass(frozen=True, eq=False)
class Grid:
    """A reconstruction grid: the map ``P`` and what is needed to draw its parameters.

    Attributes
    ----------
    P : scipy.sparse.csr_matrix, shape (n_elements, n_params)
        Element-in-parameter measure fractions.
    centres : ndarray, shape (n_params, dim)
        A representative point of each parameter, m.
    measures : ndarray, shape (n_params,)
        Area or volume of each parameter inside the mesh, m^2 or m^3.
    neighbours : ndarray of int, shape (n_pairs, 2)
        Pairs of parameters that share a face (for difference regularisers).
    element_measures : ndarray, shape (n_elements,)
        Area or volume of each mesh element (to average element values onto parameters).
    image_shape, image_index, extent
        For pixel and voxel grids: the image array shape, each parameter's flat
        index in it, and the bounds (xmin, xmax, ymin, ymax[, zmin, zmax]).
    """

    P: sp.csr_matrix
    centres: np.ndarray
    measures: np.ndarray
    neighbours: np.ndarray
    element_measures: np.ndarray
    image_shape: tuple[int, ...] | None = None
    image_index: np.ndarray | None = None
    extent: tuple[float, ...] | None = None

    @property
    def n_params(self) -> int:
        """Number of parameters."""
        return self.P.shape[1]

    def to_elements(self, x: np.ndarray, background: float | np.ndarray = 0.0) -> np.ndarray:
        """Element values from parameters: ``P x`` plus ``background`` times the uncovered fraction.

        Parameters
        ----------
        x : ndarray, shape (n_params,)
        background : float or ndarray, shape (n_elements,)
        """
        x = self._check(x)
        covered = np.asarray(self.P.sum(axis=1)).ravel()
        return self.P @ x + (1.0 - covered) * background

    def from_elements(self, values: np.ndarray) -> np.ndarray:
        """Parameter values from element values: the measure-weighted mean over each parameter."""
        values = np.asarray(values, dtype=float)
        if values.shape != (self.P.shape[0],):
            raise FemeitError(f"expected {self.P.shape[0]} element values, got shape {values.shape}")
        return (self.P.T @ (values * self.element_measures)) / self.measures

    def to_image(self, x: np.ndarray) -> np.ndarray:
        """The parameters as an image array (NaN where a cell has no parameter); pixel and voxel grids only."""
        if self.image_shape is None:
            raise FemeitError("this grid is not a regular image grid")
        x = self._check(x)
        img = np.full(int(np.prod(self.image_shape)), np.nan)
        img[self.image_index] = x
        return img.reshape(self.image_shape)

    def from_image(self, image: np.ndarray) -> np.ndarray:
        """Parameters from an image array of shape ``image_shape`` (the inverse of :meth:`to_image`)."""
        if self.image_shape is None:
            raise FemeitError("this grid is not a regular image grid")
        image = np.asarray(image, dtype=float)
        if image.shape != self.image_shape:
            raise FemeitError(f"image must have shape {self.image_shape}, got {image.shape}")
        return image.ravel()[self.image_index]

    def difference_operator(self, order: int = 1) -> sp.csr_matrix:
        """First differences (one row per neighbour pair) or the second-difference (graph Laplacian) operator."""
        pairs = self.neighbours
        n = self.n_params
        if order == 1:
            k = np.arange(len(pairs))
            return sp.csr_matrix(
                (np.r_[np.ones(len(k)), -np.ones(len(k))], (np.r_[k, k], np.r_[pairs[:, 0], pairs[:, 1]])),
                shape=(len(pairs), n),
            )
        if order == 2:
            adj = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
            adj = adj + adj.T
            return (sp.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj).tocsr()
        raise FemeitError(f"difference order must be 1 or 2, got {order}")

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.shape != (self.n_params,):
            raise FemeitError(f"expected {self.n_params} parameter values, got shape {x.shape}")
        return x


def _regular_grid(mesh: EITMesh, lower, upper, shape, level: int, min_fraction: float) -> Grid:
    dim = mesh.dim
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    shape = tuple(int(s) for s in shape)
    if len(lower) != dim or len(upper) != dim or len(shape) != dim:
        raise FemeitError(f"a {dim}D mesh needs {dim} bounds and {dim} cell counts")
    if np.any(upper <= lower) or min(shape) < 1:
        raise FemeitError(f"grid bounds must satisfy lower < upper and counts >= 1, got {lower}, {upper}, {shape}")
    size = (upper - lower) / np.asarray(shape)
    n_cells = int(np.prod(shape))

    def locate(points: np.ndarray) -> np.ndarray:
        ijk = np.floor((points - lower) / size).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < np.asarray(shape)), axis=1)
        flat = np.ravel_multi_index(tuple(np.clip(ijk, 0, np.asarray(shape) - 1).T), shape, order="F")
        return np.where(ok, flat, -1)

    full = overlap_matrix(mesh, locate, n_cells, level)
    vol = element_measures(mesh.points, mesh.elements)
    cell_measure = full.T @ vol
    active = np.flatnonzero(cell_measure > min_fraction * np.prod(size))
    if len(active) == 0:
        raise FemeitError("the grid does not overlap the mesh")
    P = full[:, active].tocsr()
    idx = np.array(np.unravel_index(active, shape, order="F")).T  # (n_active, dim)
    centres = lower + (idx + 0.5) * size
    lookup = np.full(n_cells, -1)
    lookup[active] = np.arange(len(active))
    pairs = []
    for axis in range(dim):
        step = np.zeros(dim, dtype=np.int64)
        step[axis] = 1
        nb = idx + step
        ok = nb[:, axis] < shape[axis]
        nb_flat = np.ravel_multi_index(tuple(nb[ok].T), shape, order="F")
        j = lookup[nb_flat]
        keep = j >= 0
        pairs.append(np.column_stack([np.flatnonzero(ok)[keep], j[keep]]))
    # Images are indexed [row, col] = [y, x] (2D) or [z, y, x] (3D), row 0 at the top (largest y or z).
    image_shape = tuple(reversed(shape))
    flipped = idx.copy()
    flipped[:, -1] = shape[-1] - 1 - idx[:, -1]
    image_index = np.ravel_multi_index(tuple(flipped[:, ::-1].T), image_shape)
    return Grid(
        P,
        centres,
        np.asarray(cell_measure[active]),
        np.concatenate(pairs),
        vol,
        image_shape,
        image_index,
        tuple(np.ravel(np.column_stack([lower, upper]))),
    )


def _become(grid: Grid, made: Grid) -> None:
    """Initialise ``grid`` (a subclass instance) with the fields of ``made``."""
    Grid.__init__(grid, **{f.name: getattr(made, f.name) for f in dataclasses.fields(Grid)})


class PixelGrid(Grid):
    """A 2D grid of rectangular pixels over a 2D mesh (a disk, a half-plane section).

    Parameters
    ----------
    mesh : EITMesh
        A 2D mesh.
    bounds : (xmin, xmax, ymin, ymax), optional
        Default: the mesh's bounding box.
    shape : (nx, ny)
        Pixels along x and y.
    level : int
        Sampling level of the overlap fractions (4^level children per triangle).
    min_fraction : float
        Pixels with less than this fraction of their area inside the mesh are dropped
        (a disk keeps only the pixels it covers).

    Notes
    -----
    A :class:`Grid`: ``to_image`` gives arrays of shape (ny, nx), row 0 at the top (largest y).
    """

    def __init__(
        self,
        mesh: EITMesh,
        bounds: tuple[float, float, float, float] | None = None,
        shape: tuple[int, int] = (64, 64),
        level: int = 3,
        min_fraction: float = 1e-3,
    ) -> None:
        if mesh.dim != 2:
            raise FemeitError("PixelGrid needs a 2D mesh; use VoxelGrid or SliceGrid in 3D")
        if bounds is None:
            lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
            bounds = (lo[0], hi[0], lo[1], hi[1])
        _become(self, _regular_grid(mesh, bounds[0::2], bounds[1::2], shape, level, min_fraction))


class VoxelGrid(Grid):
    """A 3D grid of box voxels over a 3D mesh.

    Parameters
    ----------
    bounds : (xmin, xmax, ymin, ymax, zmin, zmax), optional
        Default: the mesh's bounding box.
    shape : (nx, ny, nz)
    level : int
        Sampling level (8^level children per tetrahedron).

    Notes
    -----
    A :class:`Grid`: ``to_image`` gives arrays of shape (nz, ny, nx), index 0 at the top (largest z).
    """

    def __init__(
        self,
        mesh: EITMesh,
        bounds: tuple[float, ...] | None = None,
        shape: tuple[int, int, int] = (16, 16, 16),
        level: int = 2,
        min_fraction: float = 1e-3,
    ) -> None:
        if mesh.dim != 3:
            raise FemeitError("VoxelGrid needs a 3D mesh")
        if bounds is None:
            lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
            bounds = (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
        _become(self, _regular_grid(mesh, bounds[0::2], bounds[1::2], shape, level, min_fraction))


class SliceGrid(Grid):
    """Pixels on the horizontal slab ``|z' - z| <= thickness / 2`` of a 3D mesh (one voxel layer).

    Elements outside the slab keep the background.  ``to_image`` gives (1, ny, nx).
    ``min_fraction``: pixels (slab voxels) with less than this fraction of their
    volume inside the mesh are dropped; 0.5 keeps the pixels at least half inside
    a cylinder (the KGPSR-BB paper's 812 pixels of a 32 x 32 grid, 2472 of 56 x 56).
    """

    def __init__(
        self,
        mesh: EITMesh,
        z: float,
        thickness: float,
        shape: tuple[int, int] = (32, 32),
        bounds: tuple[float, float, float, float] | None = None,
        level: int = 2,
        min_fraction: float = 1e-3,
    ) -> None:
        if not 0 <= min_fraction < 1:
            raise FemeitError(f"min_fraction must lie in [0, 1), got {min_fraction}")
        if mesh.dim != 3:
            raise FemeitError("SliceGrid needs a 3D mesh")
        if thickness <= 0:
            raise FemeitError(f"thickness must be positive, got {thickness}")
        if bounds is None:
            lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
            bounds = (lo[0], hi[0], lo[1], hi[1])
        box = (*bounds, z - thickness / 2, z + thickness / 2)
        _become(self, VoxelGrid(mesh, box, (*shape, 1), level, min_fraction))


class ElementGrid(Grid):
    """The identity grid: one parameter per element."""

    def __init__(self, mesh: EITMesh) -> None:
        n = mesh.n_elements
        pairs = _element_neighbours(mesh.mesh)
        vol = mesh.element_measures()
        _become(self, Grid(sp.identity(n, format="csr"), mesh.points[mesh.elements].mean(axis=1), vol, pairs, vol))


def _element_neighbours(m: skfem.Mesh) -> np.ndarray:
    f2t = m.f2t
    interior = f2t[1] >= 0
    return np.column_stack([f2t[0, interior], f2t[1, interior]])


class CoarseMeshGrid(Grid):
    """One parameter per element of a coarser mesh over the same region.

    Fine elements are split by sampling between the coarse elements that hold
    their children's centroids.  Where the coarse boundary cuts across the fine
    one, the fine pieces just outside go to the nearest coarse element; pieces
    far outside the coarse mesh keep the background.
    """

    def __init__(self, mesh: EITMesh, coarse: EITMesh | skfem.Mesh, level: int = 2) -> None:
        coarse_mesh = coarse.mesh if isinstance(coarse, EITMesh) else coarse
        if coarse_mesh.p.shape[0] != mesh.dim:
            raise FemeitError("the coarse mesh must have the same dimension as the mesh")
        from scipy.spatial import cKDTree

        vertices = coarse_mesh.p.T[coarse_mesh.t.T]  # (n_coarse, dim + 1, dim)
        inverse_maps = np.linalg.inv(np.transpose(vertices[:, 1:] - vertices[:, :1], (0, 2, 1)))
        tree = cKDTree(vertices.mean(axis=1))
        k = min(8, len(vertices))

        def locate(points: np.ndarray) -> np.ndarray:
            # Among the k coarse elements with the nearest centroids, take the one
            # whose smallest barycentric coordinate is largest: the element holding
            # the point, or for a point just outside the coarse boundary (where the
            # coarse polygon cuts across the fine one) the nearest element.
            _, cand = tree.query(points, k)
            cand = cand.reshape(len(points), k)
            local = np.einsum("pkij,pkj->pki", inverse_maps[cand], points[:, None, :] - vertices[cand, 0])
            bary = np.concatenate([1.0 - local.sum(axis=2, keepdims=True), local], axis=2)
            score = bary.min(axis=2)
            best = score.argmax(axis=1)
            found = cand[np.arange(len(points)), best]
            return np.where(score[np.arange(len(points)), best] > -0.5, found, -1)

        n = coarse_mesh.t.shape[1]
        P = overlap_matrix(mesh, locate, n, level)
        vol = mesh.element_measures()
        centres = coarse_mesh.p[:, coarse_mesh.t].mean(axis=1).T
        _become(self, Grid(P, centres, np.asarray(P.T @ vol), _element_neighbours(coarse_mesh), vol))
