"""Off-screen 3D renderings with pyvista: tanks and half-spaces with electrodes, conductivity slices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from femeit.errors import FemeitError


def _pyvista():
    # Skip a slow attempt at an X display on headless machines (EGL software rendering works).
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        import pyvista as pv
    except ImportError:
        raise FemeitError("3D renderings need pyvista: pip install 'femeit[viz]'") from None
    pv.OFF_SCREEN = True
    return pv


def _grid(mesh, cell_values=None, name="sigma"):
    pv = _pyvista()
    cells = np.column_stack([np.full(mesh.n_elements, 4), mesh.elements]).ravel()
    grid = pv.UnstructuredGrid(cells, np.full(mesh.n_elements, pv.CellType.TETRA), mesh.points)
    if cell_values is not None:
        grid.cell_data[name] = np.asarray(cell_values, dtype=float)
    return grid


def _inside(points: np.ndarray, bounds) -> np.ndarray:
    lo, hi = np.asarray(bounds[0::2], dtype=float), np.asarray(bounds[1::2], dtype=float)
    return np.all((points >= lo) & (points <= hi), axis=1)


def render3d(
    mesh,
    sigma=None,
    *,
    slices: str | tuple = "auto",
    path: str | Path | None = None,
    window_size: tuple[int, int] = (800, 640),
    title: str | None = None,
    bounds: tuple[float, float, float, float, float, float] | None = None,
) -> np.ndarray:
    """Render a 3D model off-screen: the boundary, the electrodes and optional conductivity slices.

    Parameters
    ----------
    mesh : EITMesh (3D)
    sigma : ndarray, shape (n_elements,), optional
        Conductivity (S/m) shown on slices; without it the regions are shown.
    slices : "auto" or tuple of ("x"|"y"|"z", position)
        "auto": a horizontal slice through the electrode centres and a vertical one.
    path : str or Path, optional
        Save a PNG there.
    bounds : (xmin, xmax, ymin, ymax, zmin, zmax), optional
        Show only the elements inside this box, m (a half-space model's padding
        is mostly far field; this keeps the picture on the survey).

    Returns
    -------
    ndarray, shape (height, width, 3)
        The rendered image.
    """
    if mesh.dim != 3:
        raise FemeitError("render3d needs a 3D mesh; use plot_mesh / plot_conductivity for 2D")
    pv = _pyvista()
    values = np.asarray(mesh.element_region, dtype=float) if sigma is None else np.asarray(sigma, dtype=float)
    if values.shape != (mesh.n_elements,):
        raise FemeitError(f"expected {mesh.n_elements} element values, got shape {values.shape}")
    grid = _grid(mesh, values)
    if bounds is not None:
        if len(bounds) != 6 or not all(bounds[2 * i] < bounds[2 * i + 1] for i in range(3)):
            raise FemeitError(f"bounds must be (xmin, xmax, ymin, ymax, zmin, zmax) with min < max, got {bounds}")
        grid = grid.extract_cells(np.flatnonzero(_inside(grid.cell_centers().points, bounds)))
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    plotter.add_mesh(grid.extract_surface(algorithm="dataset_surface"), style="wireframe", color="gray", opacity=0.15)
    lo, hi = np.asarray(grid.bounds[0::2]), np.asarray(grid.bounds[1::2])
    if slices == "auto":
        centres = np.array([e.centre for e in mesh.electrodes])
        z = float(np.median(centres[:, 2])) if len(centres) else float((lo[2] + hi[2]) / 2)
        slices = (("z", z), ("y", float((lo[1] + hi[1]) / 2)))
    label = "region" if sigma is None else "conductivity (S/m)"
    for axis, position in slices:
        normal = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[axis]
        origin = (lo + hi) / 2
        origin["xyz".index(axis)] = position
        cut = grid.slice(normal=normal, origin=origin)
        if cut.n_points:
            plotter.add_mesh(cut, scalars=grid.active_scalars_name, cmap="viridis", scalar_bar_args={"title": label})
    for electrode in mesh.electrodes:
        if len(electrode.facets):
            nodes = np.unique(electrode.facets)
            if bounds is not None:
                nodes = nodes[_inside(mesh.points[nodes], bounds)]
            if not len(nodes):
                continue
            plotter.add_points(mesh.points[nodes], color="orange", point_size=4, render_points_as_spheres=True)
        else:
            plotter.add_points(mesh.points[[electrode.node]], color="red", point_size=10, render_points_as_spheres=True)
    if title:
        plotter.add_text(title, font_size=10)
    plotter.view_isometric()
    image = plotter.screenshot(None if path is None else str(path), return_img=True)
    plotter.close()
    return image
