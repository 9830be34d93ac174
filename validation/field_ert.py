"""Field ERT profiles inverted by femeit's Gauss-Newton imaging (2.5D, topography from the sensors).

Run:  python validation/field_ert.py [-o validation/out] [--profile slagdump|gallery|bedrock]

Data: the pyGIMLi example data (``gimli-org/example-data``, folder ``ert/``,
commit 3bab9c6b96a606e2ca12cbdafc8c7da4f1b73c67; see ``tests/data/ert/README.md``
for the providers), copied unchanged into ``tests/data/ert``:

* ``slagdump.ohm``: Wenner over a slag dump, resistances, topography by
  levelling (BGR Hannover, M. Furche); error model 3 % of |R| (the file has none);
* ``gallery.dat``: 21 electrodes on flat ground, apparent resistivity with a
  relative error column;
* ``bedrock.dat``: 64 electrodes at 5 m, apparent resistivity and error, with
  the borehole log ``bedrock.txt`` at x = 155 m as partial ground truth;
  vertical smoothness weight 0.15 (pyGIMLi's tutorial zWeight, in its convention:
  :func:`regulariser`);
* ``hollow_limetree.ohm``: 24 electrodes around a lime-tree trunk, u and i;
  the cross-section is the polygon through the sensor positions
  (:func:`femeit.ert.closed_mesh`), insulated all round (2.5D: a trunk
  uniform along its axis); error 3 % of |R|.

For every profile: the mesh follows the sensors' topography
(:func:`femeit.ert.halfplane_mesh`), the model is P2 2.5D
(:class:`femeit.ert.ERTModel`, 14 wavenumbers: ``RULE``), resistances come from ``r`` or from
``rhoa / k`` with numeric geometric factors of the same mesh; the inversion
(:func:`femeit.inverse.gauss_newton.invert_model`) fits ln|R| with the
relative error as std, first-difference smoothness across triangle edges
(anisotropic where stated, :func:`regulariser`), starts from the median apparent resistivity,
cools lambda by 0.5 and stops at chi^2 <= 1 or after 10 iterations.

Reports chi^2 per iteration, iterations, wall time (mesh, model and
inversion), the resistivity range over the well-covered part (coverage,
:func:`femeit.ert.pictures.coverage`, within 2.5 decades of its maximum),
and for the bedrock profile the section's resistivity along the borehole
against the log: the log's main contrast (depth of the largest jump of the
running median, and the ratio of medians 8 m below / above it) and the
section's ratio over the same depth windows.  For bedrock also
(:func:`bedrock_study`): an error model a + b|R| estimated from the data
(the file has no reciprocals), the chi^2 = 1 inversion with it, the
depth-of-investigation index of Oldenburg & Li (1999) and the contrast the
section recovers at the borehole (depth and ratio).  Figures: pseudo-section,
section with the coverage mask, chi^2 per iteration.  Writes
``field_ert.md`` and ``field_ert_*.png``; exits non-zero when a profile does
not reach chi^2 <= 1.2 within 10 iterations.

BLAS is limited to one thread (``OPENBLAS_NUM_THREADS=1`` unless set): the
many small triangular solves of the 2.5D model are 10-20 times slower with
threads competing on a busy 2-core machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "ert"
CHI2_LIMIT = 1.2
# Gauss-Legendre + Gauss-Laguerre wavenumbers (10 + 4): 0.1 % error on the homogeneous kernel over
# r_max / r_min = 40, against 2-3 % data errors; 14 solves per model instead of 24.
RULE = (10, 4)
# Lagrange order of the forward model: P2 (the nodes of the mesh refined once, as pyGIMLi's default
# forward mesh); P1 on these meshes differs from P2 by 2-4 % on rough models, as much as the errors.
ORDER = 2

PROFILES = {
    # file, relative error when the file has none, vertical smoothness weight, element size at the
    # electrodes (fraction of the spacing), growth, domain extent (profile lengths)
    "slagdump": {"file": "slagdump.ohm", "error": 0.03, "zweight": 1.0, "near": 0.25, "growth": 0.4, "extent": 3.0},
    "gallery": {"file": "gallery.dat", "error": None, "zweight": 1.0, "near": 0.25, "growth": 0.4, "extent": 3.0},
    "bedrock": {"file": "bedrock.dat", "error": None, "zweight": 0.15, "near": 0.2, "growth": 0.35, "extent": 2.0},
    # A ring: the trunk's cross-section inside the polygon through the sensors, insulated all round.
    "limetree": {"file": "hollow_limetree.ohm", "error": 0.03, "zweight": 1, "near": 0.2, "growth": 0.2, "ring": True},
}


def setup(name: str, order: int = ORDER):
    """The data, mesh and model of a profile: (ERTData, HalfPlaneMesh, ERTModel, R, std, rhoa)."""
    from femeit.ert import ERTModel, Forward25D, closed_mesh, halfplane_mesh, read_unified, wavenumbers

    cfg = PROFILES[name]
    data = read_unified(DATA / cfg["file"])
    ring = cfg.get("ring", False)
    points = data.sensors[:, :2] if ring else data.profile()
    spacing = float(np.min(np.linalg.norm(np.diff(points, axis=0), axis=1)))
    if ring:
        mesh = closed_mesh(points, near_size=cfg["near"] * spacing, growth=cfg["growth"])
    else:
        mesh = halfplane_mesh(points, near_size=cfg["near"] * spacing, growth=cfg["growth"], extent=cfg["extent"])
    e = mesh.electrodes
    dist = np.linalg.norm(e[:, None] - e[None], axis=2)[~np.eye(len(e), dtype=bool)]
    k, w = wavenumbers(dist.min(), dist.max(), "gauss", RULE)
    forward = Forward25D(mesh, order=order, k=k, w=w, boundary="neumann" if ring else "mixed")
    model = ERTModel(forward, data.protocol())
    k = model.forward.geometric_factors(model.protocol)
    if "rhoa" in data.columns and "r" not in data.columns and "u" not in data.columns:
        resistance = data.columns["rhoa"] / k
    else:
        resistance = data.resistances()
    rel = data.columns["err"] if cfg["error"] is None else np.full(data.n_data, cfg["error"])
    return data, mesh, model, resistance, rel * np.abs(resistance), resistance * k


def regulariser(mesh, zweight: float):
    """First differences across the triangle edges, edge f weighted by ``1 - (1 - zweight) |n_z|``.

    n is the edge's unit normal: an edge between two stacked triangles
    (horizontal, |n_z| = 1) gets ``zweight``, a vertical edge 1, linear in
    between; the convention of pyGIMLi's ``zWeight`` (checked against its
    constraint weights in ``benchmarks/ert_pygimli.py``).  femeit's own
    ``neighbour_operator(weights=(1, a))`` weights an edge by
    ``sqrt(n_x^2 + a n_z^2)`` instead (a tensor form): with the same number
    it smooths more across horizontal edges (0.39 instead of 0.15 for 0.15).
    """
    import scipy.sparse as sp

    from femeit.inverse.gauss_newton import neighbour_operator

    p, t = mesh.mesh.p.T, mesh.mesh.t.T
    r1 = neighbour_operator(p, t)
    nx = abs(neighbour_operator(p, t, weights=(1.0, 0.0))).max(axis=1).toarray().ravel()  # |n_x| per edge
    nz = np.sqrt(np.clip(1.0 - nx**2, 0.0, 1.0))
    return (sp.diags(1.0 - (1.0 - zweight) * nz) @ r1).tocsr()


def invert(
    name: str,
    lam: float | None = None,
    max_iter: int = 10,
    tolerance: float = 0.01,
    order: int = ORDER,
    relative_error: np.ndarray | None = None,
    reference: float | None = None,
    damping: float = 0.0,
) -> dict:
    """Invert one profile; returns the numbers of the report and what the figures need.

    ``lam=None``: femeit's automatic lambda (cooled by 0.5 from its trace
    ratio, raised when a step overshoots) and the stop at chi^2 <= 1.  A
    number: that lambda kept fixed, no stop at chi^2 = 1, iterations until Phi
    decreases by less than ``tolerance`` (relative) or ``max_iter``: the
    setting matched with pyGIMLi in ``benchmarks/ert_pygimli.py``.
    ``relative_error`` (n_data,) replaces the profile's errors (std / |R|);
    ``reference`` (ohm m) is the homogeneous starting and reference model
    (default: the median apparent resistivity), held with the smallness weight
    ``damping`` (relative to lambda; 0: the reference only starts).
    """
    from femeit.ert.pictures import coverage
    from femeit.inverse.gauss_newton import invert_model

    cfg = PROFILES[name]
    t0 = time.perf_counter()
    data, mesh, model, resistance, std, rhoa = setup(name, order)
    if relative_error is not None:
        std = np.asarray(relative_error, dtype=float) * np.abs(resistance)
    reg = regulariser(mesh, cfg["zweight"])
    t1 = time.perf_counter()
    fixed = {} if lam is None else {"lam": lam, "cooling": 1.0, "target": 1e-9, "tolerance": tolerance}
    res = invert_model(
        model,
        resistance,
        std,
        sigma0=1.0 / (np.median(rhoa) if reference is None else reference),
        regulariser=reg,
        log_data=True,
        max_iter=max_iter,
        damping=damping,
        **fixed,
    )
    t2 = time.perf_counter()  # the coverage below is for the pictures, not part of the inversion
    sigma = res.conductivity
    jac = model.jacobian(sigma, log_conductivity=True) / model.simulate(sigma)[:, None]
    cov = coverage(jac, std / np.abs(resistance), mesh.areas())
    covered = cov > cov.max() - 2.5
    rho = 1.0 / sigma
    return {
        "name": name,
        "data": data,
        "mesh": mesh,
        "model": model,
        "resistance": resistance,
        "std": std,
        "result": res,
        "rhoa": rhoa,
        "coverage": cov,
        "covered": covered,
        "rho": rho,
        "n_data": data.n_data,
        "n_elements": mesh.n_elements,
        "setup_s": t1 - t0,
        "invert_s": t2 - t1,
        "ok": bool(res.chi2[-1] <= CHI2_LIMIT and res.iterations <= 10),
    }


def discrepancy_lambda(
    name: str, start: tuple[float, float] = (1.0, 10.0), tol: float = 0.05, runs: int = 6, **options
):
    """The fixed lambda whose converged chi^2 is 1 (the discrepancy principle), by a secant in log-log.

    chi^2 of the converged model grows monotonically with lambda; each try
    is a full fixed-lambda inversion from the homogeneous start (``invert``
    with ``lam``; ``options`` go to it).  Stops when |chi^2 - 1| <= ``tol``.
    Returns (lambda, run, tries) with tries a list of (lambda, chi^2, iterations).
    """
    tries = []
    best = None
    lams = list(start)
    for i in range(runs):
        lam = lams[i] if i < len(lams) else None
        if lam is None:
            (l0, c0), (l1, c1) = [(a, b) for a, b, _ in tries[-2:]]
            slope = (np.log(c1) - np.log(c0)) / (np.log(l1) - np.log(l0)) if c1 != c0 else 1.0
            slope = slope if slope > 0.1 else 1.0
            lam = float(np.exp(np.log(l1) - np.log(c1) / slope))
        run = invert(name, lam=lam, max_iter=20, **options)
        chi = float(run["result"].chi2[-1])
        tries.append((lam, chi, run["result"].iterations))
        if best is None or abs(np.log(chi)) < abs(np.log(best[1]["result"].chi2[-1])):
            best = (lam, run)
        if abs(chi - 1.0) <= tol:
            break
    return best[0], best[1], tries


def column(mesh, rho: np.ndarray, x: float, z: np.ndarray) -> np.ndarray:
    """The section's resistivity at the points (x, z_i) (the triangle that holds each)."""

    finder = mesh.mesh.element_finder()
    elements = finder(np.full(len(z), float(x)), np.asarray(z, dtype=float))
    return rho[elements]


def main_contrast(z: np.ndarray, rho: np.ndarray, window: float = 8.0) -> tuple[float, np.ndarray, np.ndarray]:
    """The largest jump along a column: the level zc where the medians of log10 rho over ``window``
    (m) above and below differ most; returns (zc, mask above, mask below) over the samples z."""
    logr = np.log10(rho)
    best, depth = -1.0, None
    for zc in np.arange(z.min() + window, z.max() - window + 1e-9, 0.5):
        up = np.median(logr[(z > zc) & (z <= zc + window)])
        down = np.median(logr[(z <= zc) & (z > zc - window)])
        if abs(down - up) > best:
            best, depth = abs(down - up), zc
    return depth, (z > depth) & (z <= depth + window), (z <= depth) & (z > depth - window)


def borehole(run: dict) -> dict:
    """The bedrock section along the borehole against the log (module docstring)."""
    log = np.loadtxt(DATA / "bedrock.txt")
    x, z, rho_log = log[0, 0], log[:, 1], log[:, 2]
    order = np.argsort(z)[::-1]  # from the top down
    z, rho_log = z[order], rho_log[order]
    depth, above, below = main_contrast(z, rho_log)
    z_top = float(run["data"].profile()[np.argmin(np.abs(run["data"].profile()[:, 0] - x)), 1])
    section = column(run["mesh"], run["rho"], x, z + z_top)
    # The section's own main contrast along the same column, by the same rule.
    s_depth, s_above, s_below = main_contrast(z, section)
    # Depth of investigation at the borehole: the deepest point of the column inside the
    # well-covered mask (coverage within 2.5 decades of its maximum).
    covered = column(run["mesh"], run["covered"].astype(float), x, z + z_top) > 0.5
    doi = float(z_top - z[covered].min()) if covered.any() else 0.0
    return {
        "x": float(x),
        "depth": float(z_top - depth),
        "log_above": float(np.median(rho_log[above])),
        "log_below": float(np.median(rho_log[below])),
        "section_above": float(np.median(section[above])),
        "section_below": float(np.median(section[below])),
        "section_depth": float(z_top - s_depth),
        "section_ratio": float(np.median(section[s_below]) / np.median(section[s_above])),
        "z": z,
        "z_mesh": z + z_top,
        "doi": doi,
        "above": above,
        "below": below,
        "log": rho_log,
        "section": section,
    }


def residual_error_model(run: dict, lam: float) -> dict:
    """Fit the error model a + b |R| to the residuals of a well-fitting fixed-lambda inversion.

    The bedrock file has no reciprocal readings, so the reciprocal-error
    analysis (:mod:`femeit.ert.errors_model`) cannot run; we estimate the
    noise from the data themselves instead.  The residuals d - f of a model
    fitted with a small lambda underestimate the noise by the degrees of
    freedom the model absorbs: for the linearised problem,
    E ||W (d - f)||^2 ~ n - tr(H) with H = W J (J'W'WJ + lambda R'R)^-1 J'W'
    the influence matrix (as in generalised cross-validation), so the
    residuals are scaled by sqrt(n / (n - tr H)); we also report the GCV
    function n ||r||^2 / (n - tr H)^2 of Golub, Heath & Wahba (1979),
    "Generalized cross-validation as a method for choosing a good ridge
    parameter", Technometrics 21(2), 215-223.  The scaled residuals then
    go through the binned fit of LaBrecque et al. (1996) eq. 14 that
    :func:`femeit.ert.errors_model.fit_error_model` applies to reciprocal
    differences (which carry sqrt(2) times one reading's noise, hence the
    factor sqrt(2) below).
    """
    import scipy.linalg as sla

    from femeit.ert.errors_model import fit_error_model

    model, resistance, std = run["model"], run["resistance"], run["std"]
    sigma = run["result"].conductivity
    f = model.simulate(sigma)
    jw = model.jacobian(sigma, log_conductivity=True) / f[:, None] / (std / np.abs(resistance))[:, None]
    reg = regulariser(run["mesh"], PROFILES[run["name"]]["zweight"])
    normal = jw.T @ jw + lam * (reg.T @ reg).toarray()
    influence = float(np.sum(jw * sla.cho_solve(sla.cho_factor(normal), jw.T).T))
    n = len(resistance)
    scale = np.sqrt(n / (n - influence))
    a, b = fit_error_model(resistance, np.sqrt(2.0) * scale * (resistance - f))
    rss = float(np.sum(((resistance - f) / resistance) ** 2))
    return {
        "lam": lam,
        "a": a,
        "b": b,
        "tr_h": influence,
        "chi2_file": float(run["result"].chi2[-1]),
        "floor": float(np.sqrt(rss / (n - influence))),  # dof-corrected RMS relative residual
        "gcv": n * rss / (n - influence) ** 2,  # generalised cross-validation (Golub, Heath & Wahba 1979)
    }


def doi_index(name: str, lam: float, relative_error: np.ndarray, rho0: float, factor: float, damping: float) -> dict:
    """Depth-of-investigation index of Oldenburg & Li (1999), "Estimating depth of investigation in
    dc resistivity and IP surveys", Geophysics 64(2), 403-416, eq. (4): R = (m1 - m2) / (m_r1 - m_r2).

    Two inversions at the same lambda and errors with homogeneous reference (and starting) models
    ``rho0 / factor`` and ``rho0 * factor``, held by a smallness term of weight ``damping`` x lambda
    (their alpha_s; ours is per triangle, unweighted by area).  R near 0: the data decide the cell;
    near 1: the reference does.
    """
    runs = [
        invert(
            name,
            lam=lam,
            max_iter=30,
            tolerance=1e-3,  # converged further than the 1 % stop: the index is a difference of two models
            relative_error=relative_error,
            reference=rho0 * f,
            damping=damping,
        )
        for f in (1.0 / factor, factor)
    ]
    index = np.log(runs[0]["rho"] / runs[1]["rho"]) / np.log(1.0 / factor**2)
    return {"index": index, "runs": runs, "factor": factor, "damping": damping}


def bedrock_study(out: Path) -> list[str]:
    """The bedrock section with an error model estimated from the data, at chi^2 = 1, against the log.

    1. no reciprocals: the error model a + b|R| from the residuals of a well-fitting
       model (:func:`residual_error_model` at lambda 10; lambdas 3, 100 and 300 shown for
       comparison: the estimate is stable at small lambda, where the residuals reach their floor,
       and grows once the model underfits);
    2. the fixed lambda whose converged chi^2 is 1 with those errors (:func:`discrepancy_lambda`);
    3. the DOI index at that lambda (:func:`doi_index`, references 5 x and 1/5 x the median
       apparent resistivity, alpha_s = 0.01), at the borehole and as the median |R| per depth
       band over the middle of the profile;
    4. the section's resistivity along the borehole against the log: the log's main contrast and
       the section's own (:func:`main_contrast`).
    """
    t0 = time.perf_counter()
    fits = {
        lam: residual_error_model(invert("bedrock", lam=lam, max_iter=20), lam) for lam in (3.0, 10.0, 100.0, 300.0)
    }
    fit = fits[10.0]
    _, _, _, resistance, file_std, _ = setup("bedrock")
    rel = (fit["a"] + fit["b"] * np.abs(resistance)) / np.abs(resistance)
    file_rel = file_std / np.abs(resistance)
    lam, run, tries = discrepancy_lambda("bedrock", start=(10.0, 100.0), relative_error=rel)
    rho0 = float(np.median(run["rhoa"]))
    doi = doi_index("bedrock", lam, rel, rho0, factor=5.0, damping=0.01)
    b = borehole(run)
    doi_col = column(run["mesh"], doi["index"], b["x"], b["z_mesh"])
    low, high = (column(r["mesh"], r["rho"], b["x"], b["z_mesh"]) for r in doi["runs"])
    # The DOI index over the middle of the profile (electrodes on both sides), per 5 m depth band.
    c = run["mesh"].centroids()
    x_e = run["data"].profile()[:, 0]
    middle = (c[:, 0] > x_e.min() + 0.25 * np.ptp(x_e)) & (c[:, 0] < x_e.max() - 0.25 * np.ptp(x_e))
    depth_c = np.interp(c[:, 0], x_e, run["data"].profile()[:, 1]) - c[:, 1]
    bands = []
    for top in np.arange(0.0, 50.0, 5.0):
        sel = middle & (depth_c >= top) & (depth_c < top + 5)
        if sel.any():
            bands.append((top, float(np.median(np.abs(doi["index"][sel])))))
    seconds = time.perf_counter() - t0
    figure_borehole(run, b, doi, doi_col, out)
    ratio = b["section_below"] / b["section_above"]
    return [
        "",
        "## Bedrock: error model from the data, chi^2 = 1, depth of investigation",
        "",
        "The file has no reciprocal readings (no row is another's A B M N swapped with M N A B), so the "
        "reciprocal-error analysis cannot run. Error model a + b|R| fitted (binned RMS, LaBrecque et al. 1996) "
        "to the residuals of a well-fitting fixed-lambda model (file errors), scaled by sqrt(n / (n - tr H)) for "
        "the degrees of freedom the model absorbs (H the influence matrix):",
        "",
        *[
            f"- lambda {f['lam']:g}: chi^2 {f['chi2_file']:.3g} with the file's errors, tr H = {f['tr_h']:.0f} of "
            f"{len(resistance)}, corrected RMS relative residual {100 * f['floor']:.3g} %, GCV {f['gcv']:.3g}; "
            f"a = {f['a']:.3g} ohm, b = {100 * f['b']:.3g} %"
            for f in fits.values()
        ],
        f"- used (lambda 10, on the residual floor): relative error {100 * np.median(rel):.2f} % median "
        f"({100 * rel.min():.2f}-{100 * rel.max():.2f} %), against the file's {100 * np.median(file_rel):.2f} % "
        f"({100 * file_rel.min():.2f}-{100 * file_rel.max():.2f} %).",
        "",
        "Discrepancy lambda with these errors: "
        + ", ".join(f"lambda {a:.3g} -> chi^2 {c:.3g} ({i} it)" for a, c, i in tries)
        + f"; chosen {lam:.3g}, chi^2 {run['result'].chi2[-1]:.3g} in {run['result'].iterations} iterations.",
        "",
        f"Borehole (x = {b['x']:g} m): the log's main contrast is at {b['depth']:.1f} m depth, "
        f"{b['log_above']:.3g} -> {b['log_below']:.3g} ohm m (ratio {b['log_below'] / b['log_above']:.3g}, medians "
        f"of 8 m windows). femeit at chi^2 = 1 over the same windows: {b['section_above']:.3g} -> "
        f"{b['section_below']:.3g} ohm m (ratio {ratio:.3g}); the section's own largest jump along the column "
        f"is at {b['section_depth']:.1f} m depth, ratio {b['section_ratio']:.3g}.",
        "",
        f"DOI index R (Oldenburg & Li 1999) at lambda {lam:.3g}: references {rho0 / 5:.3g} and {rho0 * 5:.3g} "
        f"ohm m, alpha_s 0.01, chi^2 {doi['runs'][0]['result'].chi2[-1]:.3g} and "
        f"{doi['runs'][1]['result'].chi2[-1]:.3g}. Median |R| per depth band over the middle half of the "
        "profile: " + ", ".join(f"{t:.0f}-{t + 5:.0f} m: {v:.2f}" for t, v in bands) + ".",
        "",
        "Column at the borehole (depth: log, femeit chi^2 = 1, reference-low model, reference-high model "
        "(ohm m), R): "
        + "; ".join(
            f"{-zz:.0f} m: {lg:.3g}, {r:.3g}, {lo:.3g}, {hi:.3g}, {d:.2f}"
            for zz, lg, r, lo, hi, d in zip(b["z"], b["log"], b["section"], low, high, doi_col, strict=True)
            if zz % 4 == 0
        )
        + ".",
        "",
        f"Time {seconds:.0f} s (4 error fits, the lambda search, 2 DOI inversions).",
    ]


def figure_borehole(run: dict, b: dict, doi: dict, doi_col: np.ndarray, out: Path) -> None:
    """Section at chi^2 = 1 masked by |DOI index| < 0.1, and the column against the log."""
    from femeit.ert.pictures import plot_section
    from femeit.viz.plots import subplots

    fig, axes = subplots(1, 2, figsize=(13, 4.5))
    plot_section(
        run["mesh"],
        run["rho"],
        mask=np.abs(doi["index"]) < 0.1,
        depth=60.0,
        ax=axes[0, 0],
        title=f"bedrock, chi^2 = {run['result'].chi2[-1]:.2f} (errors from the data); |DOI index| < 0.1",
    )
    ax = axes[0, 1]
    depth = -b["z"]
    ax.semilogx(b["log"], depth, "k-", label="log")
    ax.semilogx(b["section"], depth, "r-", label="femeit")
    ax.set_ylim(depth.max(), 0)
    ax.set_xlabel("ohm m")
    ax.set_ylabel("depth (m)")
    ax2 = ax.twiny()
    ax2.plot(np.abs(doi_col), depth, "b--")
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("|DOI index| (dashed)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "field_ert_bedrock_doi.png", dpi=90)


def figures(run: dict, out: Path) -> list[str]:
    """Pseudo-section, section with coverage mask, chi^2 per iteration."""
    from femeit.ert.pictures import plot_cross_section, plot_misfit, plot_pseudosection, plot_section
    from femeit.viz.plots import subplots

    name, data = run["name"], run["data"]
    if PROFILES[name].get("ring"):
        fig, axes = subplots(1, 2, figsize=(10, 4.2))
        plot_cross_section(
            run["mesh"], run["rho"], ax=axes[0, 0], title=f"{name}: femeit, chi^2 = {run['result'].chi2[-1]:.2f}"
        )
        plot_misfit(run["result"], ax=axes[0, 1], title="chi^2 and lambda per iteration")
        fig.tight_layout()
        path = out / f"field_ert_{name}.png"
        fig.savefig(path, dpi=90)
        return [path.name]
    fig, axes = subplots(3, 1, figsize=(9, 10))
    profile = data.profile()
    plot_pseudosection(profile, data.abmn, run["rhoa"], ax=axes[0, 0], title=f"{name}: apparent resistivity")
    plot_section(
        run["mesh"],
        run["rho"],
        mask=run["covered"],
        ax=axes[1, 0],
        title=f"{name}: femeit Gauss-Newton, chi^2 = {run['result'].chi2[-1]:.2f}",
    )
    plot_misfit(run["result"], ax=axes[2, 0], title="chi^2 (circles) and lambda (squares) per iteration")
    fig.tight_layout()
    path = out / f"field_ert_{name}.png"
    fig.savefig(path, dpi=90)
    return [path.name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--profile", choices=sorted(PROFILES), action="append")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Field ERT profiles, femeit Gauss-Newton (validation/field_ert.py)",
        "",
        "| profile | data | triangles | iterations | chi^2 per iteration | rho, covered (ohm m) | setup s | invert s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    extra = []
    for name in args.profile or list(PROFILES):
        run = invert(name)
        chi = ", ".join(f"{c:.3g}" for c in run["result"].chi2)
        rc = run["rho"][run["covered"]]
        lines.append(
            f"| {name} | {run['n_data']} | {run['n_elements']} | {run['result'].iterations} | {chi} | "
            f"{rc.min():.3g}-{rc.max():.3g} | {run['setup_s']:.1f} | {run['invert_s']:.1f} |"
        )
        print(lines[-1], flush=True)
        figures(run, args.out)
        ok &= run["ok"]
        if name == "bedrock":
            b = borehole(run)
            extra += [
                "",
                f"Bedrock borehole (x = {b['x']:g} m): the log's main contrast is at {b['depth']:.1f} m depth, "
                f"median {b['log_above']:.3g} ohm m in the 8 m above and {b['log_below']:.3g} ohm m in the 8 m "
                f"below (ratio {b['log_below'] / b['log_above']:.3g}); the femeit section gives "
                f"{b['section_above']:.3g} and {b['section_below']:.3g} ohm m "
                f"(ratio {b['section_below'] / b['section_above']:.3g}). The well-covered section reaches "
                f"{b['doi']:.1f} m below the surface there. Section (ohm m) at depths "
                + ", ".join(f"{-zz:.0f} m: {r:.3g}" for zz, r in zip(b["z"], b["section"], strict=True) if zz % 4 == 0)
                + ".",
            ]
            print(extra[-1], flush=True)
            extra += bedrock_study(args.out)
            print("\n".join(extra[-12:]), flush=True)
        if PROFILES[name].get("ring"):
            r = np.linalg.norm(run["mesh"].centroids() - run["mesh"].centre, axis=1)
            inner = np.median(run["rho"][r < 0.4 * r.max()])
            outer = np.median(run["rho"][r > 0.7 * r.max()])
            extra += [
                "",
                f"Lime tree: median resistivity {inner:.3g} ohm m within 0.4 of the largest radius (the hollow "
                f"core) and {outer:.3g} ohm m beyond 0.7 (the sound wood under the bark): ratio {inner / outer:.3g}.",
            ]
            print(extra[-1], flush=True)
    (args.out / "field_ert.md").write_text("\n".join(lines + extra) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
