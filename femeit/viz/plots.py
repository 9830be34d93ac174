"""Matplotlib figures of meshes, conductivities, images, L-curves and convergence studies.

Figures are made as :class:`matplotlib.figure.Figure` objects, not through
pyplot: femeit never switches the user's backend nor leaves figures open in
pyplot's registry.  Pass ``ax=`` to draw into a figure of your own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from femeit.errors import FemeitError


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None):
    """A new figure and a (nrows, ncols) array of axes, made without pyplot (any backend, none switched).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : ndarray of Axes, shape (nrows, ncols)
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise FemeitError("plots need matplotlib: pip install 'femeit[viz]'") from None
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _axes(ax, figsize: tuple[float, float]):
    """``(ax.figure, ax)``, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig, axes = subplots(figsize=figsize)
    return fig, axes[0, 0]


#: Resolution of saved PNGs unless a function is given ``dpi=`` (print quality).
DEFAULT_DPI = 200


def _finish(fig, path: str | Path | None, dpi: int | None = None):
    if path is not None:
        if dpi is not None and (not np.isfinite(dpi) or dpi <= 0):
            raise FemeitError(f"dpi must be a positive number, got {dpi}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi or DEFAULT_DPI, bbox_inches="tight")
    return fig


def _triangulation(mesh):
    if mesh.dim != 2:
        raise FemeitError("this plot needs a 2D mesh; use render3d for 3D models")
    import matplotlib.tri as mtri

    return mtri.Triangulation(mesh.points[:, 0], mesh.points[:, 1], mesh.elements)


def plot_mesh(
    mesh,
    *,
    ax=None,
    path=None,
    title: str | None = None,
    labels: bool = True,
    legend: bool = True,
    axes: bool = True,
    dpi: int | None = None,
):
    """A 2D mesh with every electrode drawn and numbered, its regions in a legend, and its bounds.

    Electrodes are numbered from 1 (``e01``) just outside the boundary, along
    the outward direction from the mesh's centre; the axes limits are widened
    so that no label is clipped.

    Parameters
    ----------
    mesh : EITMesh (2D)
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save a PNG there.
    title : str, optional
        Default: the numbers of triangles and electrodes.
    labels : bool
        Number the electrodes.
    legend : bool
        A legend of the region names (one colour each).
    axes : bool
        Show the axes with their bounds in m (else axes off).
    dpi : int, optional
        Resolution of the saved PNG (default :data:`DEFAULT_DPI`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    tri = _triangulation(mesh)
    fig, ax = _axes(ax, (5.5, 5))
    regions = np.asarray(mesh.element_region)
    names = list(mesh.region_names)
    colours = [(0.93, 0.93, 0.93)] + [tuple(c) for c in _REGION_COLOURS[: max(len(names) - 1, 0)]]
    ax.tripcolor(
        tri, facecolors=regions.astype(float), cmap=ListedColormap(colours), vmin=-0.5, vmax=len(colours) - 0.5,
        edgecolors="none",
    )
    ax.triplot(tri, lw=0.2, color="0.45")
    lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
    middle, extent = (lo + hi) / 2, float(np.max(hi - lo)) or 1.0
    offset = 0.05 * extent
    label_positions = []
    for k, electrode in enumerate(mesh.electrodes):
        centre = np.asarray(electrode.centre, dtype=float)[:2]
        if len(electrode.facets):
            facets = np.asarray(electrode.facets, dtype=int)
            segments = mesh.points[facets][:, :, :2]
            for seg in segments:  # the electrode as a thick line along the boundary
                ax.plot(seg[:, 0], seg[:, 1], "-", lw=2.5, color="C3", solid_capstyle="butt")
        else:
            ax.plot(*mesh.points[electrode.node][:2], "o", ms=4, color="C3")
        direction = centre - middle
        if np.linalg.norm(direction) < 1e-12 * extent:
            direction = np.array([0.0, 1.0])
        position = centre + offset * direction / np.linalg.norm(direction)
        label_positions.append(position)
        if labels:
            ax.text(*position, str(k + 1), fontsize=7, ha="center", va="center", color="C3", gid=f"electrode-{k + 1}")
    if label_positions:  # widen the view so that every label is inside the axes
        pts = np.vstack([np.array(label_positions), mesh.points[:, :2]])
        pad = 0.05 * extent
        ax.set_xlim(pts[:, 0].min() - pad, pts[:, 0].max() + pad)
        ax.set_ylim(pts[:, 1].min() - pad, pts[:, 1].max() + pad)
    ax.set_aspect("equal")
    if legend:
        handles = [Patch(facecolor=colours[i], edgecolor="0.4", label=name) for i, name in enumerate(names)]
        handles.append(Patch(facecolor="C3", label=f"electrodes ({len(mesh.electrodes)})"))
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if axes:
        ax.set_xlabel("x (m)", fontsize=8)
        ax.set_ylabel("y (m)", fontsize=8)
        ax.tick_params(labelsize=7)
    else:
        ax.axis("off")
    ax.set_title(title or f"{mesh.n_elements} triangles, {len(mesh.electrodes)} electrodes", fontsize=9)
    return _finish(fig, path, dpi)


#: Region colours after the background (light grey): matplotlib's tab10, softened.
_REGION_COLOURS = np.array(
    [(0.55, 0.75, 0.93), (1.0, 0.73, 0.47), (0.6, 0.85, 0.6), (0.85, 0.6, 0.85), (0.95, 0.85, 0.5),
     (0.7, 0.7, 0.95), (0.9, 0.65, 0.65), (0.6, 0.85, 0.85), (0.8, 0.8, 0.6), (0.75, 0.75, 0.75)] * 10
)


def plot_conductivity(
    mesh,
    sigma,
    *,
    ax=None,
    path=None,
    title: str | None = None,
    cmap: str = "viridis",
    label: str = "conductivity (S/m)",
    dpi: int | None = None,
    **kw,
):
    """Per-element values on a 2D mesh (S/m, or any field), with a labelled colour bar.

    Parameters
    ----------
    mesh : EITMesh (2D)
    sigma : ndarray, shape (n_elements,)
        One value per element.
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save a PNG there.
    title : str, optional
    cmap : str
        Matplotlib colour map.
    label : str
        Colour-bar label (say "change (S/m)" for a difference image).
    dpi : int, optional
        Resolution of the saved PNG.
    **kw
        Passed to ``tripcolor`` (e.g. ``vmin``, ``vmax``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape != (mesh.n_elements,):
        raise FemeitError(f"expected {mesh.n_elements} element values, got shape {sigma.shape}")
    tri = _triangulation(mesh)
    fig, ax = _axes(ax, (5, 4.3))
    shown = ax.tripcolor(tri, facecolors=sigma, cmap=cmap, edgecolors="none", **kw)
    fig.colorbar(shown, ax=ax, shrink=0.8, label=label)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return _finish(fig, path, dpi)


def plot_image(
    image,
    *,
    extent=None,
    ax=None,
    path=None,
    title: str | None = None,
    symmetric: bool = False,
    label: str | None = None,
    dpi: int | None = None,
    **kw,
):
    """A pixel image (row 0 at the top) with a colour bar, NaN shown blank.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
    extent : (left, right, bottom, top), optional
        In m, as matplotlib's ``imshow``.
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save a PNG there.
    title : str, optional
    symmetric : bool
        Centre the colour scale on 0 (``RdBu_r``), for changes of either sign.
    label : str, optional
        Colour-bar label, e.g. "conductivity change (S/m)".
    dpi : int, optional
        Resolution of the saved PNG.
    **kw
        Passed to ``imshow`` (``cmap``, ``vmin``, ``vmax``...).

    Returns
    -------
    matplotlib.figure.Figure
    """
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise FemeitError(f"an image must be 2D, got shape {image.shape}")
    fig, ax = _axes(ax, (4.5, 4))
    if symmetric:
        lim = np.nanmax(np.abs(image)) or 1.0
        kw = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim} | kw
    shown = ax.imshow(image, extent=extent, **({"cmap": "viridis"} | kw))
    fig.colorbar(shown, ax=ax, shrink=0.8, label=label)
    if title:
        ax.set_title(title, fontsize=9)
    return _finish(fig, path, dpi)


def plot_lcurve(curve: dict, *, ax=None, path=None, title: str | None = None, dpi: int | None = None):
    """An L-curve from :func:`femeit.inverse.choose_lambda` (log residual vs log solution norm), corner marked.

    Parameters
    ----------
    curve : dict
        With ``residual``, ``solution``, ``lambdas`` (arrays, shape (n,)) and ``lam``.
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save a PNG there.
    title : str, optional
    dpi : int, optional
        Resolution of the saved PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    for key in ("residual", "solution", "lambdas", "lam"):
        if key not in curve:
            raise FemeitError(f"the curve needs {key!r} (use femeit.inverse.choose_lambda)")
    fig, ax = _axes(ax, (4.5, 4))
    ax.loglog(curve["residual"], curve["solution"], ".-", ms=3)
    k = int(np.argmin(np.abs(np.log(curve["lambdas"]) - np.log(curve["lam"]))))
    ax.loglog(curve["residual"][k], curve["solution"][k], "o", color="C3", label=f"corner, lambda = {curve['lam']:.3g}")
    ax.set(xlabel="residual norm ||J x - y||", ylabel="solution (semi)norm")
    ax.legend(fontsize=8)
    ax.set_title(title or "L-curve", fontsize=9)
    return _finish(fig, path, dpi)


def plot_convergence(
    sizes,
    errors,
    *,
    labels=None,
    ax=None,
    path=None,
    title: str | None = None,
    xlabel="h",
    dpi: int | None = None,
):
    """Errors against mesh size on log axes with the fitted rate of each series.

    Parameters
    ----------
    sizes : array_like, shape (n,)
        Mesh sizes h (or any refinement measure).
    errors : array_like, shape (n,) or (n_series, n)
    labels : list of str, optional
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save a PNG there.
    title : str, optional
    xlabel : str
    dpi : int, optional
        Resolution of the saved PNG.

    Returns
    -------
    matplotlib.figure.Figure
        The fitted rates are in ``fig.rates``.
    """
    h = np.asarray(sizes, dtype=float)
    errs = np.atleast_2d(np.asarray(errors, dtype=float))
    if errs.shape[1] != len(h) or len(h) < 2:
        raise FemeitError(f"errors of shape {errs.shape} do not match {len(h)} sizes (need at least 2)")
    labels = labels or [f"series {i + 1}" for i in range(len(errs))]
    fig, ax = _axes(ax, (4.8, 4))
    rates = []
    for e, label in zip(errs, labels, strict=True):
        rate = np.polyfit(np.log(h), np.log(e), 1)[0]
        rates.append(float(rate))
        ax.loglog(h, e, "o-", label=f"{label}: rate {rate:.2f}")
    ax.set(xlabel=xlabel, ylabel="relative error")
    ax.legend(fontsize=8)
    ax.set_title(title or "convergence", fontsize=9)
    fig.rates = rates
    return _finish(fig, path, dpi)


def plot_image_grid(
    images,
    *,
    titles=None,
    symmetric: bool = False,
    shared: bool = True,
    cmap: str | None = None,
    path=None,
    title: str | None = None,
    size: float = 1.8,
    label: str | None = None,
    dpi: int | None = None,
):
    """Images in a grid (rows x columns), axes off, e.g. truths above reconstructions.

    Parameters
    ----------
    images : array_like, shape (n_rows, n_cols, ny, nx), or nested lists of 2D arrays
        NaN pixels are blank.
    titles : nested lists of str, optional
        One per image.
    symmetric : bool
        Centre the colour scale on 0 (``RdBu_r``).
    shared : bool
        One colour scale for all images; else one per image.
    cmap : str, optional
        Default ``viridis`` (``RdBu_r`` when symmetric).
    path : str or Path, optional
        Save a PNG there.
    title : str, optional
        Figure title.
    size : float
        Inches per image.
    label : str, optional
        With ``shared``: a colour bar for all images, with this label.
    dpi : int, optional
        Resolution of the saved PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [[np.asarray(im, dtype=float) for im in row] for row in images]
    n_rows, n_cols = len(rows), max((len(r) for r in rows), default=0)
    if n_rows == 0 or n_cols == 0 or any(im.ndim != 2 for row in rows for im in row):
        raise FemeitError("plot_image_grid needs a non-empty grid of 2D images")
    cmap = cmap or ("RdBu_r" if symmetric else "viridis")

    def limits(arrays):
        finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays] + [np.zeros(0)])
        if finite.size == 0:
            return -1.0, 1.0
        if symmetric:
            lim = float(np.abs(finite).max()) or 1.0
            return -lim, lim
        return float(finite.min()), float(finite.max())

    common = limits([im for row in rows for im in row]) if shared else None
    fig, axes = subplots(n_rows, n_cols, figsize=(size * n_cols, (size + 0.3) * n_rows))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.axis("off")
            if j >= len(row):
                continue
            lo, hi = common or limits([row[j]])
            shown = ax.imshow(row[j], cmap=cmap, vmin=lo, vmax=hi)
            if titles is not None:
                ax.set_title(titles[i][j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if shared and label is not None:
        fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=label)
    return _finish(fig, path, dpi)
