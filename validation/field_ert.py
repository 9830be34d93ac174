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
  vertical smoothness weight 0.15 (pyGIMLi's tutorial zWeight);
* ``hollow_limetree.ohm``: 24 electrodes around a lime-tree trunk, u and i;
  the cross-section is the polygon through the sensor positions
  (:func:`femeit.ert.closed_mesh`), insulated all round (2.5D: a trunk
  uniform along its axis); error 3 % of |R|.

For every profile: the mesh follows the sensors' topography
(:func:`femeit.ert.halfplane_mesh`), the model is P1 2.5D
(:class:`femeit.ert.ERTModel`, 14 wavenumbers: ``RULE``), resistances come from ``r`` or from
``rhoa / k`` with numeric geometric factors of the same mesh; the inversion
(:func:`femeit.inverse.gauss_newton.invert_model`) fits ln|R| with the
relative error as std, first-difference smoothness across triangle edges
(anisotropic where stated), starts from the median apparent resistivity,
cools lambda by 0.5 and stops at chi^2 <= 1 or after 10 iterations.

Reports chi^2 per iteration, iterations, wall time (mesh, model and
inversion), the resistivity range over the well-covered part (coverage,
:func:`femeit.ert.pictures.coverage`, within 2.5 decades of its maximum),
and for the bedrock profile the section's resistivity along the borehole
against the log: the log's main contrast (depth of the largest jump of the
running median, and the ratio of medians 8 m below / above it) and the
section's ratio over the same depth windows.  Figures: pseudo-section,
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

PROFILES = {
    # file, relative error when the file has none, vertical smoothness weight, element size at the
    # electrodes (fraction of the spacing), growth, domain extent (profile lengths)
    "slagdump": {"file": "slagdump.ohm", "error": 0.03, "zweight": 1.0, "near": 0.25, "growth": 0.4, "extent": 3.0},
    "gallery": {"file": "gallery.dat", "error": None, "zweight": 1.0, "near": 0.25, "growth": 0.4, "extent": 3.0},
    "bedrock": {"file": "bedrock.dat", "error": None, "zweight": 0.15, "near": 0.2, "growth": 0.35, "extent": 2.0},
    # A ring: the trunk's cross-section inside the polygon through the sensors, insulated all round.
    "limetree": {"file": "hollow_limetree.ohm", "error": 0.03, "zweight": 1, "near": 0.2, "growth": 0.2, "ring": True},
}


def setup(name: str):
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
    forward = Forward25D(mesh, order=1, k=k, w=w, boundary="neumann" if ring else "mixed")
    model = ERTModel(forward, data.protocol())
    k = model.forward.geometric_factors(model.protocol)
    if "rhoa" in data.columns and "r" not in data.columns and "u" not in data.columns:
        resistance = data.columns["rhoa"] / k
    else:
        resistance = data.resistances()
    rel = data.columns["err"] if cfg["error"] is None else np.full(data.n_data, cfg["error"])
    return data, mesh, model, resistance, rel * np.abs(resistance), resistance * k


def invert(name: str) -> dict:
    """Invert one profile; returns the numbers of the report and what the figures need."""
    from femeit.ert.pictures import coverage
    from femeit.inverse.gauss_newton import invert_model, neighbour_operator

    cfg = PROFILES[name]
    t0 = time.perf_counter()
    data, mesh, model, resistance, std, rhoa = setup(name)
    t1 = time.perf_counter()
    reg = neighbour_operator(mesh.mesh.p.T, mesh.mesh.t.T, weights=(1.0, cfg["zweight"]))
    res = invert_model(
        model, resistance, std, sigma0=1.0 / np.median(rhoa), regulariser=reg, log_data=True, max_iter=10
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


def column(mesh, rho: np.ndarray, x: float, z: np.ndarray) -> np.ndarray:
    """The section's resistivity at the points (x, z_i) (the triangle that holds each)."""

    finder = mesh.mesh.element_finder()
    elements = finder(np.full(len(z), float(x)), np.asarray(z, dtype=float))
    return rho[elements]


def borehole(run: dict) -> dict:
    """The bedrock section along the borehole against the log (module docstring)."""
    log = np.loadtxt(DATA / "bedrock.txt")
    x, z, rho_log = log[0, 0], log[:, 1], log[:, 2]
    order = np.argsort(z)[::-1]  # from the top down
    z, rho_log = z[order], rho_log[order]
    logr = np.log10(rho_log)
    # The main contrast: largest difference of medians of 8 m windows above and below.
    best, depth = 0.0, None
    for zc in np.arange(z.min() + 8, z.max() - 8 + 1e-9, 0.5):
        up = np.median(logr[(z > zc) & (z <= zc + 8)])
        down = np.median(logr[(z <= zc) & (z > zc - 8)])
        if abs(down - up) > best:
            best, depth = abs(down - up), zc
    above = (z > depth) & (z <= depth + 8)
    below = (z <= depth) & (z > depth - 8)
    z_top = float(run["data"].profile()[np.argmin(np.abs(run["data"].profile()[:, 0] - x)), 1])
    section = column(run["mesh"], run["rho"], x, z + z_top)
    return {
        "x": float(x),
        "depth": float(z_top - depth),
        "log_above": float(np.median(rho_log[above])),
        "log_below": float(np.median(rho_log[below])),
        "section_above": float(np.median(section[above])),
        "section_below": float(np.median(section[below])),
        "z": z,
        "log": rho_log,
        "section": section,
    }


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
                f"(ratio {b['section_below'] / b['section_above']:.3g}).",
            ]
            print(extra[-1], flush=True)
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
