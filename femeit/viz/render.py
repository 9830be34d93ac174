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


#: Named camera views of :func:`render3d`.
CAMERAS = ("iso", "xy", "xz", "yz", "-xz", "-yz")

#: Colours of categorical regions (background first): soft, distinct, print-safe.
REGION_COLOURS = ("#d9d9d9", "#4c9be8", "#f5a04a", "#5fbf6f", "#c77bd1", "#e8d44d", "#8c8ce8", "#e07b7b")


def _auto_slices(mesh, lo, hi):
    """A horizontal slice through the electrodes and a vertical one; for a surface array, vertical slices only.

    When every electrode lies on the top face (a half-space survey), a slice at
    the electrodes' height would be the ground surface and hide what is buried:
    we cut vertically along the line and across it instead.
    """
    centres = np.array([e.centre for e in mesh.electrodes]) if mesh.electrodes else np.zeros((0, 3))
    middle = (lo + hi) / 2
    if len(centres) and np.allclose(centres[:, 2], hi[2], atol=1e-9 * max(1.0, float(np.ptp(hi - lo)))):
        return (("y", float(np.median(centres[:, 1]))), ("x", float(np.median(centres[:, 0]))))
    z = float(np.median(centres[:, 2])) if len(centres) else float(middle[2])
    return (("z", z), ("y", float(middle[1])))


def _electrode_surfaces(pv, mesh, bounds):
    """One PolyData of every electrode's boundary triangles (clipped to ``bounds``), and the point electrodes."""
    tris = [np.asarray(e.facets, dtype=int) for e in mesh.electrodes if len(e.facets)]
    points = np.array([mesh.points[e.node] for e in mesh.electrodes if not len(e.facets)]).reshape(-1, 3)
    surface = None
    if tris:
        faces = np.concatenate(tris)
        if bounds is not None:
            faces = faces[np.all(_inside(mesh.points[faces.ravel()], bounds).reshape(faces.shape), axis=1)]
        if len(faces):
            surface = pv.PolyData(mesh.points, np.column_stack([np.full(len(faces), 3), faces]).ravel())
    if bounds is not None and len(points):
        points = points[_inside(points, bounds)]
    return surface, points


def render3d(
    mesh,
    sigma=None,
    *,
    slices: str | tuple = "auto",
    path: str | Path | None = None,
    window_size: tuple[int, int] = (800, 640),
    title: str | None = None,
    bounds: tuple[float, float, float, float, float, float] | None = None,
    cmap: str | None = None,
    clim: tuple[float, float] | None = None,
    label: str | None = None,
    symmetric: bool = False,
    camera: str | list = "iso",
    electrode_colour: str = "#e6550d",
    dpi: int | None = None,
) -> np.ndarray:
    """Render a 3D model off-screen: the boundary, the electrodes as surfaces, and slices of a field.

    Without ``sigma`` the regions are shown as categories (one colour per region
    name, with a legend); with ``sigma`` the values are shown continuously with a
    labelled colour bar.

    Parameters
    ----------
    mesh : EITMesh (3D)
    sigma : ndarray, shape (n_elements,), optional
        Values per element shown on the slices (conductivity in S/m, a change, a
        sensitivity...); without it the regions are shown.
    slices : "auto" or tuple of ("x"|"y"|"z", position)
        Cutting planes, positions in m. "auto": a horizontal slice through the
        electrode centres and a vertical one; for a surface array (a
        half-space) vertical slices along and across the line.
    path : str or Path, optional
        Save a PNG there.
    window_size : (width, height)
        Pixels at 100 dpi.
    title : str, optional
    bounds : (xmin, xmax, ymin, ymax, zmin, zmax), optional
        Show only the model inside this box, m, cut smoothly along the box's
        faces (a half-space model's padding is mostly far field; this keeps the
        picture on the survey).
    cmap : str, optional
        Colour map of continuous values (default ``viridis``; ``RdBu_r`` when symmetric).
    clim : (low, high), optional
        Colour limits (default: the range of the values shown).
    label : str, optional
        Colour-bar title (default "conductivity (S/m)").
    symmetric : bool
        Centre the colour scale on 0, for changes of either sign.
    camera : {"iso", "xy", "xz", "yz", "-xz", "-yz"} or a pyvista camera position
        The view: isometric, from above (xy), from the front (xz: looking along +y),
        from the side (yz), or from the back (-xz, -yz).
    electrode_colour : str
        Colour of the electrode surfaces and points.
    dpi : int, optional
        Scale the image: ``window_size`` is taken at 100 dpi, so dpi=300 triples it.

    Returns
    -------
    ndarray, shape (height, width, 3)
        The rendered image.
    """
    if mesh.dim != 3:
        raise FemeitError("render3d needs a 3D mesh; use plot_mesh / plot_conductivity for 2D")
    if not (isinstance(camera, list | tuple) or camera in CAMERAS):
        raise FemeitError(f"camera must be one of {CAMERAS} or a pyvista camera position, got {camera!r}")
    if clim is not None and (len(clim) != 2 or not clim[0] < clim[1]):
        raise FemeitError(f"clim must be (low, high) with low < high, got {clim}")
    if dpi is not None and (not np.isfinite(dpi) or dpi <= 0):
        raise FemeitError(f"dpi must be a positive number, got {dpi}")
    pv = _pyvista()
    categorical = sigma is None
    values = np.asarray(mesh.element_region, dtype=float) if categorical else np.asarray(sigma, dtype=float)
    if values.shape != (mesh.n_elements,):
        raise FemeitError(f"expected {mesh.n_elements} element values, got shape {values.shape}")
    grid = _grid(mesh, values)
    if bounds is not None:
        if len(bounds) != 6 or not all(bounds[2 * i] < bounds[2 * i + 1] for i in range(3)):
            raise FemeitError(f"bounds must be (xmin, xmax, ymin, ymax, zmin, zmax) with min < max, got {bounds}")
        # A smooth cut along the box's faces (cells are split, not dropped whole).
        grid = grid.clip_box(list(map(float, bounds)), invert=False, crinkle=False)
    scale = 1 if dpi is None else max(1, round(dpi / 100))
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size), image_scale=scale)
    plotter.set_background("white")
    plotter.add_mesh(grid.extract_surface(algorithm="dataset_surface"), style="wireframe", color="gray", opacity=0.12)
    lo, hi = np.asarray(grid.bounds[0::2]), np.asarray(grid.bounds[1::2])
    if slices == "auto":
        slices = _auto_slices(mesh, lo, hi)
    names = list(mesh.region_names)
    if categorical:
        colours = [REGION_COLOURS[i % len(REGION_COLOURS)] for i in range(len(names))]
        style = {"cmap": colours, "n_colors": len(names), "clim": (-0.5, len(names) - 0.5), "show_scalar_bar": False}
    else:
        low, high = (float(np.nanmin(values)), float(np.nanmax(values))) if clim is None else clim
        if symmetric and clim is None:
            high = float(np.nanmax(np.abs(values))) or 1.0
            low = -high
        if low == high:
            low, high = low - 0.5, high + 0.5
        # A horizontal bar under the model: room for a long title, nothing clipped.
        bar = {
            "title": label or "conductivity (S/m)",
            "color": "black",
            "vertical": False,
            "position_x": 0.25,
            "position_y": 0.04,
            "width": 0.5,
            "height": 0.07,
            "fmt": "%.3g",
            "title_font_size": 14,
            "label_font_size": 12,
        }
        style = {"cmap": cmap or ("RdBu_r" if symmetric else "viridis"), "clim": (low, high), "scalar_bar_args": bar}
    for axis, position in slices:
        if axis not in ("x", "y", "z"):
            raise FemeitError(f"a slice is ('x'|'y'|'z', position), got {(axis, position)!r}")
        normal = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[axis]
        origin = (lo + hi) / 2
        origin["xyz".index(axis)] = position
        cut = grid.slice(normal=normal, origin=origin)
        if cut.n_points:
            # Unlit: a slice is a map, its colours must read the same at any angle.
            plotter.add_mesh(cut, scalars="sigma", lighting=False, **style)
    surface, points = _electrode_surfaces(pv, mesh, bounds)
    if surface is not None:
        # Unlit: facets of either orientation show the electrode's own colour.
        plotter.add_mesh(surface, color=electrode_colour, lighting=False)
    if len(points):
        size = 0.015 * float(np.max(hi - lo))
        for point in points:
            plotter.add_mesh(pv.Sphere(radius=size, center=point), color=electrode_colour, lighting=False)
    if categorical:
        # The legend writes each name in its colour: the light background grey is darkened there to stay legible.
        entries = [[name, "#8c8c8c" if i == 0 else colours[i]] for i, name in enumerate(names)]
        entries.append(["electrodes", electrode_colour])
        plotter.add_legend(entries, bcolor="white", face="rectangle", size=(0.22, 0.06 * len(entries)))
    if title:
        plotter.add_text(title, font_size=10, color="black")
    if isinstance(camera, str):
        {"iso": plotter.view_isometric, "xy": plotter.view_xy, "xz": plotter.view_xz, "yz": plotter.view_yz,
         "-xz": lambda: plotter.view_xz(negative=True), "-yz": lambda: plotter.view_yz(negative=True)}[camera]()
    else:
        plotter.camera_position = camera
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    image = plotter.screenshot(None if path is None else str(path), return_img=True)
    plotter.close()
    return image
