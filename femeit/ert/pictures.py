"""ERT pictures: pseudo-sections, resistivity sections with electrodes and topography, coverage, misfit.

Matplotlib figures made without pyplot (as in :mod:`femeit.viz.plots`);
pass ``ax=`` to draw into a figure of your own, ``path=`` to save.

Pseudo-section positions (our choice; conventions differ between programs):
a reading is drawn at the mean x of its electrodes (the remote electrode of
a pole array left out) and at a pseudo-depth of 0.2 times the span of its
electrodes, close to Edwards' (1977, "A modified pseudosection for
resistivity and IP", Geophysics 42, 1020-1036, table 1) median depths of
investigation (0.17-0.21 of the span for Wenner, Schlumberger and
dipole-dipole).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from femeit.errors import FemeitError
from femeit.ert.mesh25d import HalfPlaneMesh

__all__ = [
    "coverage",
    "plot_cross_section",
    "plot_misfit",
    "plot_pseudosection",
    "plot_section",
    "pseudosection_positions",
]


def _axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    from femeit.viz.plots import subplots

    fig, axes = subplots(figsize=figsize)
    return fig, axes[0, 0]


def _finish(fig, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def pseudosection_positions(positions: np.ndarray, abmn: np.ndarray) -> np.ndarray:
    """Plotting position (x, pseudo-depth) of each reading (module docstring).

    Parameters
    ----------
    positions : ndarray, shape (L, 2) or (L, 3)
        Electrode x in the first column, m.
    abmn : ndarray of int, shape (n_data, 4)
        0-based electrodes; -1 (or an index >= L) for an unused/remote one.

    Returns
    -------
    ndarray, shape (n_data, 2)
        x and pseudo-depth (positive down), m.
    """
    x = np.asarray(positions, dtype=float)[:, 0]
    abmn = np.asarray(abmn)
    if abmn.ndim != 2 or abmn.shape[1] != 4:
        raise FemeitError(f"abmn must have shape (n_data, 4), got {abmn.shape}")
    used = (abmn >= 0) & (abmn < len(x))
    if not np.all(used.sum(axis=1) >= 2):
        raise FemeitError("every reading needs at least two electrodes on the line")
    xs = np.where(used, x[np.clip(abmn, 0, len(x) - 1)], np.nan)
    mid = np.nanmean(xs, axis=1)
    span = np.nanmax(xs, axis=1) - np.nanmin(xs, axis=1)
    return np.column_stack([mid, 0.2 * span])


def plot_pseudosection(
    positions: np.ndarray,
    abmn: np.ndarray,
    values: np.ndarray,
    *,
    label: str = "apparent resistivity (ohm m)",
    log: bool = True,
    ax=None,
    path: str | Path | None = None,
    title: str | None = None,
    cmap: str = "Spectral_r",
):
    """Pseudo-section: each reading's value at its (x, pseudo-depth).

    Parameters
    ----------
    positions : ndarray, shape (L, 2) or (L, 3)
        Electrode positions, x first, m.
    abmn : ndarray of int, shape (n_data, 4)
    values : ndarray, shape (n_data,)
        e.g. apparent resistivity, ohm m (or a misfit, with ``log=False``).
    log : bool
        Logarithmic colour scale (values must be positive).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import LogNorm, Normalize

    xy = pseudosection_positions(positions, abmn)
    v = np.asarray(values, dtype=float)
    if v.shape != (len(xy),):
        raise FemeitError(f"values must have one entry per reading ({len(xy)}), got shape {v.shape}")
    if log and np.any(v[np.isfinite(v)] <= 0):
        raise FemeitError("a logarithmic pseudo-section needs positive values (use log=False)")
    fig, ax = _axes(ax, (8, 3.5))
    ok = np.isfinite(v)
    norm = LogNorm(v[ok].min(), v[ok].max()) if log else Normalize(v[ok].min(), v[ok].max())
    spacing = np.diff(np.unique(np.asarray(positions, dtype=float)[:, 0]))
    size = max(9.0, 60.0 * (spacing.min() if len(spacing) else 1.0) / max(np.ptp(xy[:, 0]), 1e-12) * 10)
    sc = ax.scatter(xy[ok, 0], xy[ok, 1], c=v[ok], norm=norm, cmap=cmap, marker="s", s=size, edgecolors="none")
    ax.invert_yaxis()
    ax.set_xlabel("x (m)")
    ax.set_ylabel("pseudo-depth (m)")
    fig.colorbar(sc, ax=ax, label=label)
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def coverage(jacobian: np.ndarray, std: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Coverage of each element: log10 of its cumulative, error-weighted, area-normalised sensitivity.

    ``c_e = log10( sum_i |J_ie| / std_i / area_e )`` (Kemna 2000, *Tomographic
    inversion of complex resistivity*, PhD thesis, Ruhr-Universität Bochum,
    eq. 3.49, with the error weighting of the inversion).

    Parameters
    ----------
    jacobian : ndarray, shape (n_data, n_elements)
        d data / d ln(sigma), in the units of ``std``.
    std : ndarray, shape (n_data,)
    areas : ndarray, shape (n_elements,)
        Element areas, m^2.

    Returns
    -------
    ndarray, shape (n_elements,)
    """
    j = np.asarray(jacobian, dtype=float)
    s = np.asarray(std, dtype=float)
    a = np.asarray(areas, dtype=float)
    if j.ndim != 2 or s.shape != (j.shape[0],) or a.shape != (j.shape[1],):
        raise FemeitError(f"shapes do not match: jacobian {j.shape}, std {s.shape}, areas {a.shape}")
    if np.any(s <= 0) or np.any(a <= 0):
        raise FemeitError("std and areas must be positive")
    total = (np.abs(j) / s[:, None]).sum(axis=0) / a
    return np.log10(np.maximum(total, np.finfo(float).tiny))


def plot_section(
    mesh: HalfPlaneMesh,
    resistivity: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    depth: float | None = None,
    margin: float = 0.05,
    log: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    ax=None,
    path: str | Path | None = None,
    title: str | None = None,
    cmap: str = "Spectral_r",
    label: str = "resistivity (ohm m)",
):
    """Resistivity section on the profile mesh, with the electrodes and the topography.

    Parameters
    ----------
    mesh : HalfPlaneMesh
    resistivity : ndarray, shape (n_elements,)
        ohm m (or any positive element value).
    mask : ndarray of bool, shape (n_elements,), optional
        Elements to show (e.g. ``coverage(...) > threshold``); the others are blank.
    depth : float, optional
        Depth below the lowest electrode to show, m (default a third of the profile length).
    margin : float
        Horizontal margin beyond the end electrodes, in profile lengths.
    log : bool
        Logarithmic colour scale.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.tri as mtri
    from matplotlib.colors import LogNorm, Normalize

    rho = np.asarray(resistivity, dtype=float)
    if rho.shape != (mesh.n_elements,):
        raise FemeitError(f"resistivity must have one value per element ({mesh.n_elements}), got shape {rho.shape}")
    if log and np.any(rho <= 0):
        raise FemeitError("a logarithmic section needs positive values (use log=False)")
    e = mesh.electrodes
    length = e[-1, 0] - e[0, 0]
    depth = length / 3 if depth is None else float(depth)
    x0, x1 = e[0, 0] - margin * length, e[-1, 0] + margin * length
    z0 = e[:, 1].min() - depth
    c = mesh.centroids()
    show = (c[:, 0] > x0 - 0.1 * length) & (c[:, 0] < x1 + 0.1 * length) & (c[:, 1] > z0 - 0.1 * length)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (mesh.n_elements,):
            raise FemeitError(f"mask must have one value per element ({mesh.n_elements}), got shape {mask.shape}")
        show &= mask
    if not show.any():
        raise FemeitError("no element to show (mask or window empty)")
    p, t = mesh.mesh.p, mesh.mesh.t
    tri = mtri.Triangulation(p[0], p[1], t.T, mask=~show)
    lo = rho[show].min() if vmin is None else vmin
    hi = rho[show].max() if vmax is None else vmax
    norm = LogNorm(lo, hi) if log else Normalize(lo, hi)
    fig, ax = _axes(ax, (9, 3.8))
    pc = ax.tripcolor(tri, facecolors=rho, norm=norm, cmap=cmap, edgecolors="none")
    ax.plot(e[:, 0], e[:, 1], "-", color="0.3", lw=0.8)  # the topography through the electrodes
    ax.plot(e[:, 0], e[:, 1], "v", color="k", ms=3)
    ax.set_xlim(x0, x1)
    ax.set_ylim(z0, e[:, 1].max() + 0.05 * length)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    fig.colorbar(pc, ax=ax, label=label, shrink=0.8)
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_cross_section(
    mesh: HalfPlaneMesh,
    resistivity: np.ndarray,
    *,
    log: bool = True,
    ax=None,
    path: str | Path | None = None,
    title: str | None = None,
    cmap: str = "Spectral_r",
    label: str = "resistivity (ohm m)",
):
    """Resistivity of a closed cross-section (:func:`~femeit.ert.mesh25d.closed_mesh`) with its electrodes.

    Parameters
    ----------
    mesh : HalfPlaneMesh
    resistivity : ndarray, shape (n_elements,)
        ohm m.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.tri as mtri
    from matplotlib.colors import LogNorm, Normalize

    rho = np.asarray(resistivity, dtype=float)
    if rho.shape != (mesh.n_elements,):
        raise FemeitError(f"resistivity must have one value per element ({mesh.n_elements}), got shape {rho.shape}")
    if log and np.any(rho <= 0):
        raise FemeitError("a logarithmic section needs positive values (use log=False)")
    p, t = mesh.mesh.p, mesh.mesh.t
    fig, ax = _axes(ax, (5, 4.5))
    norm = LogNorm(rho.min(), rho.max()) if log else Normalize(rho.min(), rho.max())
    pc = ax.tripcolor(mtri.Triangulation(p[0], p[1], t.T), facecolors=rho, norm=norm, cmap=cmap, edgecolors="none")
    ring = np.vstack([mesh.electrodes, mesh.electrodes[:1]])
    ax.plot(ring[:, 0], ring[:, 1], "-", color="0.3", lw=0.8)
    ax.plot(mesh.electrodes[:, 0], mesh.electrodes[:, 1], "o", color="k", ms=3)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    fig.colorbar(pc, ax=ax, label=label, shrink=0.8)
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_misfit(result, *, ax=None, path: str | Path | None = None, title: str | None = None, target: float = 1.0):
    """chi^2 and lambda per iteration of a :class:`~femeit.inverse.gauss_newton.GaussNewtonResult`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    chi2 = np.asarray(getattr(result, "chi2", None), dtype=float)
    lambdas = np.asarray(getattr(result, "lambdas", None), dtype=float)
    if chi2.ndim != 1 or len(chi2) < 1:
        raise FemeitError("the result has no chi^2 history")
    fig, ax = _axes(ax, (5, 3.5))
    it = np.arange(len(chi2))
    ax.semilogy(it, chi2, "o-", label="chi^2")
    ax.axhline(target, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("chi^2")
    if len(lambdas):
        ax2 = ax.twinx()
        ax2.semilogy(np.arange(1, len(lambdas) + 1), lambdas, "s:", color="tab:orange", label="lambda")
        ax2.set_ylabel("lambda", color="tab:orange")
    if title:
        ax.set_title(title)
    return _finish(fig, path)
