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


def _finish(fig, path: str | Path | None):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def _triangulation(mesh):
    if mesh.dim != 2:
        raise FemeitError("this plot needs a 2D mesh; use render3d for 3D models")
    import matplotlib.tri as mtri

    return mtri.Triangulation(mesh.points[:, 0], mesh.points[:, 1], mesh.elements)


def plot_mesh(mesh, *, ax=None, path=None, title: str | None = None):
    """A 2D mesh with its electrodes (numbered) and regions shaded.

    Parameters
    ----------
    mesh : EITMesh (2D)
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save a PNG there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    tri = _triangulation(mesh)
    fig, ax = _axes(ax, (5, 5))
    regions = np.asarray(mesh.element_region)
    ax.tripcolor(tri, facecolors=regions.astype(float), cmap="Pastel1", alpha=0.6, edgecolors="none")
    ax.triplot(tri, lw=0.2, color="0.4")
    for k, electrode in enumerate(mesh.electrodes):
        centre = np.asarray(electrode.centre)
        nodes = np.unique(electrode.facets) if len(electrode.facets) else [electrode.node]
        pts = mesh.points[np.asarray(nodes, dtype=int)]
        ax.plot(pts[:, 0], pts[:, 1], "o", ms=2, color="C3")
        offset = centre / (np.linalg.norm(centre) or 1.0) * 0.06 * np.ptp(mesh.points[:, 0])
        ax.annotate(str(k + 1), centre + offset, fontsize=7, ha="center", va="center", color="C3")
    ax.set_aspect("equal")
    ax.set_title(title or f"{mesh.n_elements} triangles, {len(mesh.electrodes)} electrodes", fontsize=9)
    ax.axis("off")
    return _finish(fig, path)


def plot_conductivity(mesh, sigma, *, ax=None, path=None, title: str | None = None, cmap: str = "viridis", **kw):
    """Per-element values on a 2D mesh (S/m, or any field), with a colour bar.

    Parameters
    ----------
    sigma : ndarray, shape (n_elements,)
    """
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape != (mesh.n_elements,):
        raise FemeitError(f"expected {mesh.n_elements} element values, got shape {sigma.shape}")
    tri = _triangulation(mesh)
    fig, ax = _axes(ax, (5, 4.3))
    shown = ax.tripcolor(tri, facecolors=sigma, cmap=cmap, edgecolors="none", **kw)
    fig.colorbar(shown, ax=ax, shrink=0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return _finish(fig, path)


def plot_image(image, *, extent=None, ax=None, path=None, title: str | None = None, symmetric: bool = False, **kw):
    """A pixel image (row 0 at the top), NaN shown blank; ``symmetric`` centres the colour scale on 0."""
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise FemeitError(f"an image must be 2D, got shape {image.shape}")
    fig, ax = _axes(ax, (4.5, 4))
    if symmetric:
        lim = np.nanmax(np.abs(image)) or 1.0
        kw = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim} | kw
    shown = ax.imshow(image, extent=extent, **({"cmap": "viridis"} | kw))
    fig.colorbar(shown, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title, fontsize=9)
    return _finish(fig, path)


def plot_lcurve(curve: dict, *, ax=None, path=None, title: str | None = None):
    """An L-curve from :func:`femeit.inverse.choose_lambda` (log residual vs log solution norm), corner marked."""
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
    return _finish(fig, path)


def plot_convergence(sizes, errors, *, labels=None, ax=None, path=None, title: str | None = None, xlabel="h"):
    """Errors against mesh size on log axes with the fitted rate of each series.

    Parameters
    ----------
    sizes : array_like, shape (n,)
        Mesh sizes h (or any refinement measure).
    errors : array_like, shape (n,) or (n_series, n)
    labels : list of str, optional

    Returns
    -------
    matplotlib.figure.Figure (the fitted rates are in ``fig.rates``)
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
    return _finish(fig, path)


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
            ax.imshow(row[j], cmap=cmap, vmin=lo, vmax=hi)
            if titles is not None:
                ax.set_title(titles[i][j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)
