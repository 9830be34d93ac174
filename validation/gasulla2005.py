"""Reproduce Table I of Gasulla & Pallas-Areny (IEEE Sensors J. 2005): NCE of five one-step algorithms.

Run:  python validation/gasulla2005.py [-o validation/out] [--order 1|2] [--no-fem] [--quick]

Set-up: 16 point electrodes on the surface of a
half-space, spacing 1, electrode 1 at x = -7.5; a perfectly conducting sphere
of radius 0.5 under the centre at depth 1.5 or 2.5; modified Schlumberger and
dipole-dipole arrays (104 rows each).

* Data: the analytic anomaly of the sphere (``femeit.analytic.halfspace_sphere_anomaly``,
  sigma_sphere = inf) and the analytic homogeneous transfer impedances: no FEM is
  involved in the data, so there is no inverse crime.
* Sensitivity on the paper's 17 x 5 vertical slice of unit voxels under the
  array (x in [-8.5, 8.5], y in [-0.5, 0.5], z in [-5, 0]), three ways:
  "lead field", the analytic lead-field integral of the homogeneous half-space
  (eqs. 7-8, the paper's method; ``femeit.analytic.halfspace_sensitivity``) with
  a converged Gauss rule; the same with a 1-point Gauss rule (the paper
  integrates "using the Gauss method" without giving the order), and "FEM",
  femeit's adjoint Jacobian of the homogeneous half-space (point electrodes,
  graded P1 mesh, about 300k tetrahedra; skip with ``--no-fem``) projected onto
  the voxels.  The FEM Jacobian differs from the lead field by 12 % in the top
  voxel row, which touches the point electrodes, and by 1-4 % below.
* Parameters, three rules (see :func:`reconstruct_all`): femeit's automatic
  choice (lambda = 10 c at depth 1.5 or 100 c at depth 2.5 with c the L-curve
  corner, as the paper chose; TSVD rank equivalent to that lambda), the paper's
  published parameters (lambdas of the Fig. 7 caption, ranks 35 and 50), and an
  oracle (the best NCE over lambda or rank).
* Backprojection: total and equipotential (k = 1; the equipotentials are those
  of the homogeneous half-space).
* NCE (eq. 23) with the ideal image 1 in the sphere's voxel (numbers 26 and 43
  of the paper, 1-based, row by row from the surface).

Prints femeit's tables beside the published one, writes ``gasulla2005.md`` and
one PNG per case.  The checks (exit status) use the converged quadrature of
the lead-field integral (the 1-point rule gives about half the paper's
Marquardt NCE at depth 1.5, 0.0105 against 0.024) and the paper's
parameters (Figs. 7 and 9 lambdas, ranks 35 and 50): every Table I cell
within 20 % of the published NCE, two-sided; least squares ahead of both
backprojections per case; Fig. 10's two cases (the sphere's voxel holds the
image's maximum); and the paper's TSVD rank rule (the corner of the discrete
L-curve) against its published ranks.  Each outcome is printed per case; a
miss fails the study unless it is listed, with its reason, in KNOWN_MISSES.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import femeit as fe
from femeit import metrics
from femeit.analytic import (
    halfspace_point_potentials,
    halfspace_sensitivity,
    halfspace_sphere_anomaly,
    protocol_voltages,
)
from femeit.forward import ForwardModel
from femeit.grids import VoxelGrid
from femeit.inverse import backprojection, choose_lambda, choose_rank, equipotential_mask, prepare
from femeit.protocol import Protocol

PUBLISHED = {  # Table I: (Schlumberger 1.5, Schlumberger 2.5, dipole-dipole 1.5, dipole-dipole 2.5)
    "Marquardt": (0.0240, 0.0291, 0.0208, 0.0300),
    "TSVD": (0.0227, 0.0358, 0.0143, 0.0280),
    "Occam": (0.105, 0.0612, 0.0739, 0.0625),
    "total BP": (0.226, 0.373, 0.248, 0.308),
    "equipotential BP": (0.302, 0.349, 0.234, 0.282),
}
LIMITS = {"Marquardt": 0.030, "TSVD": 0.036, "Occam": 0.105}
CASES = [("Schlumberger", 1.5), ("Schlumberger", 2.5), ("dipole-dipole", 1.5), ("dipole-dipole", 2.5)]


def sensor(order: int) -> fe.HalfspaceLineSpec:
    """The array and its graded mesh: finer for P1 (about 300k tetrahedra) than for P2 (about 60k)."""
    fine = order == 1
    return fe.HalfspaceLineSpec(
        dim=3,
        n_electrodes=16,
        spacing=1.0,
        x_first=-7.5,
        padding=20.0,
        h_electrode=0.05 if fine else 0.1,
        h_survey=0.35 if fine else 0.5,
        h_far=60.0,
    )


def homogeneous_potential(points: np.ndarray, positions: np.ndarray, injections: np.ndarray) -> np.ndarray:
    """Potential of each current pattern at ``points`` in a unit half-space, shape (n_injections, n_points)."""
    r = np.linalg.norm(points[None, :, :] - positions[:, None, :], axis=2)  # (L, n)
    return injections @ (1.0 / (2 * np.pi * r))


# The paper's own parameters (section IV and the captions of Figs. 7 and 9):
# Marquardt and Occam lambda at depth 1.5 (Schlumberger, dipole-dipole), TSVD
# rank 35 at depth 1.5 and 50 at depth 2.5; at depth 2.5 it gives only the rule
# lambda = 100 c, so there we apply the rule to femeit's L-curve corner c.
PAPER_LAMBDA = {
    ("Schlumberger", 1.5): (1.50e-8, 1.51e-9),  # Fig. 7 caption
    ("dipole-dipole", 1.5): (1.83e-8, 2.21e-9),  # Fig. 7 caption
    ("dipole-dipole", 2.5): (2.85e-12, 3.07e-12),  # Fig. 9 caption
}
# Fig. 10: Marquardt, modified Schlumberger, sphere centre and the published lambda.
FIG10 = {"(a) x = 0, z = 3.5": ((0.0, 0.0, -3.5), 1.92e-16), "(b) x = 4, z = 1.5": ((4.0, 0.0, -1.5), 2.45e-8)}
# Per-cell two-sided tolerance on Table I (relative).  Reason: the paper's lambdas at
# Schlumberger depth 2.5 are not published (we apply its rule, 100 c, to our L-curve
# corner c, which need not be the corner of Hansen's routine), and the NCE of a
# one-voxel target moves by several per cent with lambda near the optimum; 20 % is
# our bound for those two sources together, fixed before comparing.
TOLERANCE = 0.20
# Cells outside the tolerance in the full run, with their reasons; another miss fails the study.
_OCCAM_L = (
    "the paper's Occam operator L is 'a discrete approximation of a derivative operator' of unstated order and "
    "scaling, and Occam's lambda (and so the published lambda's effect) depends on both; ours is the second "
    "difference on the voxel grid"
)
KNOWN_MISSES: dict[tuple[str, str, float], str] = {
    ("Occam", "Schlumberger", 1.5): _OCCAM_L + "; here our NCE is lower than the paper's at every lambda (best 0.083)",
    ("Occam", "dipole-dipole", 2.5): _OCCAM_L + "; at Fig. 9's lambda 3.07e-12 our L gives 0.103, while the "
    "paper's rule 100 c gives 0.066 and the best lambda 0.065, within 10 % of the paper's 0.0625",
    ("TSVD rank rule", "Schlumberger", 1.5): "see the rank-rule note above",
    ("TSVD rank rule", "Schlumberger", 2.5): "see the rank-rule note above",
    ("TSVD rank rule", "dipole-dipole", 1.5): "see the rank-rule note above",
    ("TSVD rank rule", "dipole-dipole", 2.5): "see the rank-rule note above",
}
RANK_NOTE = (
    "The paper determined r 'from the discrete L-curve' with Hansen's MATLAB toolbox and reports r = 35 (depth 1.5) "
    "and 50 (depth 2.5); the maximum-curvature corner of femeit's discrete L-curve of these noise-free data lands "
    "elsewhere, and the paper does not say how its toolbox's corner was read off. With the published ranks the TSVD "
    "NCE matches Table I (checks above)."
)
PAPER_RANK = {1.5: 35, 2.5: 50}
RULES = ("femeit", "paper", "best")


def reconstruct_all(jac, dz, z0, grid, mask, case, ideal) -> dict:
    """Images of the five methods under three parameter rules.

    * ``femeit``: lambda = 10 c (depth 1.5) or 100 c (depth 2.5), c femeit's L-curve
      corner, and the TSVD rank at the corner of the discrete L-curve (the paper's rules);
    * ``paper``: the published lambdas and ranks where the paper states them
      (:data:`PAPER_LAMBDA`, :data:`PAPER_RANK`), else femeit's rule;
    * ``best``: the lambda (of femeit's 100-point L-curve grid, widened by two decades
      each side) or rank with the smallest NCE, an oracle that shows what the
      method can reach on these data whatever the parameter choice.
    """
    depth = case[1]
    factor = 10.0 if depth < 2 else 100.0
    plain = prepare(jac)
    smooth = prepare(jac, grid.difference_operator(2))
    out = {rule: {} for rule in RULES}
    for method, system in (("Marquardt", plain), ("Occam", smooth)):
        curve = choose_lambda(system, dz)
        lam = factor * curve["lam"]
        out["femeit"][method] = (system.tikhonov_matrix(lam) @ dz, f"lambda = {factor:g} c = {lam:.3g}")
        paper = PAPER_LAMBDA.get(case, (lam, lam))[0 if method == "Marquardt" else 1]
        out["paper"][method] = (system.tikhonov_matrix(paper) @ dz, f"lambda = {paper:.3g}")
        lambdas = np.logspace(np.log10(curve["lambdas"][0]) - 2, np.log10(curve["lambdas"][-1]) + 2, 300)
        out["best"][method] = _best(system.tikhonov_path(dz, lambdas), lambdas, ideal, "lambda")
    # The paper's rule for the rank: the corner of the discrete L-curve (section IV).
    rank = choose_rank(plain, dz)["rank"]
    out["femeit"]["TSVD"] = (plain.tsvd_matrix(rank) @ dz, f"r = {rank} (discrete L-curve)")
    out["paper"]["TSVD"] = (plain.tsvd_matrix(PAPER_RANK[depth]) @ dz, f"r = {PAPER_RANK[depth]}")
    ranks = np.arange(1, len(plain.s) + 1)
    out["best"]["TSVD"] = _best(plain.tsvd_path(dz), ranks, ideal, "r")
    for rule in RULES:
        out[rule]["total BP"] = (backprojection(jac, dz, z0), "k = 1")
        out[rule]["equipotential BP"] = (backprojection(jac, dz, z0, mask=mask), "k = 1")
    return out


def _best(images, parameters, ideal, label) -> tuple[np.ndarray, str]:
    scored = [(_nce(ideal, x), i, x) for i, x in enumerate(images)]
    _, i, x = min(scored, key=lambda t: t[0])
    return x, f"{label} = {parameters[i]:.3g}"


def _nce(ideal: np.ndarray, x: np.ndarray) -> float:
    return metrics.nce(ideal, x) if x.max() > 0 else np.inf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--order", type=int, default=1, choices=(1, 2), help="element order of the Jacobian")
    parser.add_argument("--no-fem", action="store_true", help="skip the FEM Jacobian (about 300k tetrahedra)")
    parser.add_argument("--quick", action="store_true", help="lead-field sensitivities only, on a coarse mesh's grid")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.no_fem = args.no_fem or args.quick
    start = time.perf_counter()
    spec = sensor(2 if args.quick else args.order)
    mesh = fe.mesh_from_spec(spec)
    # Without the FEM Jacobian the mesh only carries the voxel geometry.
    grid = VoxelGrid(mesh, (-8.5, 8.5, -0.5, 0.5, -5.0, 0.0), (17, 1, 5), level=1 if args.no_fem else 3)
    assert grid.n_params == 85
    positions = np.c_[spec.electrode_x(), np.zeros(16), np.zeros(16)]
    protocols = {"Schlumberger": Protocol.schlumberger(), "dipole-dipole": Protocol.dipole_dipole()}
    print(f"mesh {mesh.n_elements} tetrahedra, P{args.order}; voxel grid 17 x 5")
    jacobians = {"lead field": {}, "lead field, 1-point Gauss": {}}
    if not args.no_fem:
        jacobians["FEM"] = {}
    for name, protocol in protocols.items():
        lower, upper = grid.centres - 0.5, grid.centres + 0.5
        jacobians["lead field"][name] = halfspace_sensitivity(positions, protocol, lower, upper)
        jacobians["lead field, 1-point Gauss"][name] = halfspace_sensitivity(
            positions, protocol, lower, upper, subdivisions=1, order=1
        )
        if not args.no_fem:
            model = ForwardModel(mesh, protocol, electrode_model="point", order=args.order)
            jacobians["FEM"][name] = model.jacobian(1.0, basis=grid.P)
    print(f"sensitivities in {time.perf_counter() - start:.1f} s")

    tables = {source: {rule: {k: [] for k in PUBLISHED} for rule in RULES} for source in jacobians}
    images = {}
    for name, depth in CASES:
        protocol = protocols[name]
        z0 = protocol_voltages(protocol, halfspace_point_potentials(positions, 1.0, protocol.injections))
        dz = protocol_voltages(
            protocol, halfspace_sphere_anomaly(positions, (0, 0, -depth), 0.5, 1.0, np.inf, protocol.injections)
        )
        phi = homogeneous_potential(grid.centres, positions, protocol.injections)
        mask = equipotential_mask(
            phi, phi_electrodes(positions, protocol.injections), protocol.row_injection, protocol.abmn
        )
        ideal = np.zeros(85)
        ideal[int(np.argmin(np.linalg.norm(grid.centres - [0.0, 0.0, -depth], axis=1)))] = 1.0
        for source, jacs in jacobians.items():
            results = reconstruct_all(jacs[name], dz, z0, grid, mask, (name, depth), ideal)
            for rule, by_method in results.items():
                for method, (x, note) in by_method.items():
                    tables[source][rule][method].append((_nce(ideal, x), note))
                    if source == "lead field" and rule == "paper":
                        images[(name, depth, method)] = (grid.to_image(x)[:, 0, :], note)
    fig10 = {}
    protocol = protocols["Schlumberger"]
    z0 = protocol_voltages(protocol, halfspace_point_potentials(positions, 1.0, protocol.injections))
    system = prepare(jacobians["lead field"]["Schlumberger"])
    for label, (centre, lam) in FIG10.items():
        dz = protocol_voltages(
            protocol, halfspace_sphere_anomaly(positions, centre, 0.5, 1.0, np.inf, protocol.injections)
        )
        x = system.tikhonov_matrix(lam) @ dz
        target = int(np.argmin(np.linalg.norm(grid.centres - np.asarray(centre), axis=1)))
        ideal = np.zeros(85)
        ideal[target] = 1.0
        fig10[label] = (int(np.argmax(x)), target, _nce(ideal, x), lam, grid.centres)
    failures = write_report(tables, images, args.out, fig10)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


def phi_electrodes(positions: np.ndarray, injections: np.ndarray) -> np.ndarray:
    """Homogeneous potentials at the electrodes (inf at a current electrode is never used)."""
    with np.errstate(divide="ignore"):
        return np.nan_to_num(halfspace_point_potentials(positions, 1.0, injections), nan=0.0)


def write_report(tables: dict, images: dict, out: Path, fig10: dict) -> list[str]:
    header = "| method | " + " | ".join(f"{n} z={d}" for n, d in CASES) + " |"
    lines = ["# Gasulla & Pallas-Areny 2005, Table I: NCE (femeit / published)", ""]
    rules = {
        "femeit": "the paper's rules: lambda = 10 c or 100 c from femeit's L-curve corner c; TSVD rank at the "
        "corner of the discrete L-curve",
        "paper": "the paper's published lambdas (Figs. 7 and 9) and ranks (35, 50); 100 c where none is published "
        "(Schlumberger, depth 2.5)",
        "best": "oracle: the lambda or rank with the smallest NCE (what the method can reach)",
    }
    for source, by_rule in tables.items():
        for rule, table in by_rule.items():
            lines += [f"## Sensitivity: {source}; parameters: {rule}", "", f"({rules[rule]})", ""]
            lines += [header, "|---|" + "---|" * len(CASES)]
            for method, values in table.items():
                cells = [f"{v:.4f} / {p:.4f}" for (v, _), p in zip(values, PUBLISHED[method], strict=True)]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
            for method in ("Marquardt", "TSVD", "Occam"):
                lines.append(f"| ({method}) | " + " | ".join(note for _, note in table[method]) + " |")
            lines.append("")
    # The checks: Table I reproduced cell by cell, two-sided, with the converged
    # quadrature of the lead-field integral (eqs. 7-8) and the paper's parameters.
    table = tables["lead field"]["paper"]
    failures, misses = [], []
    lines += [
        "## Checks: Table I with the converged lead field and the paper's parameters",
        "",
        f"Tolerance: |femeit - paper| <= {TOLERANCE:.0%} of the paper's NCE, per cell (two-sided). Reason: the "
        "Schlumberger depth-2.5 lambdas are not published (the paper's rule 100 c applied to our L-curve corner), "
        "and near its optimum a one-voxel NCE moves by several per cent with lambda.",
        "",
        "| method | case | femeit | paper | verdict |",
        "|---|---|---|---|---|",
    ]
    for method in PUBLISHED:
        for (name, depth), (value, note), paper in zip(CASES, table[method], PUBLISHED[method], strict=True):
            ok = abs(value - paper) <= TOLERANCE * paper
            lines.append(
                f"| {method} | {name} z={depth} ({note}) | {value:.4f} | {paper:.4f} | {'pass' if ok else 'MISS'} |"
            )
            if not ok:
                misses.append((method, name, depth, f"NCE {value:.4f} vs {paper:.4f}"))
    for i, (name, depth) in enumerate(CASES):
        worst_ls = max(table[m][i][0] for m in ("Marquardt", "TSVD", "Occam"))
        best_bp = min(table["total BP"][i][0], table["equipotential BP"][i][0])
        ok = worst_ls < best_bp
        lines.append(
            f"| least squares ahead of backprojection | {name} z={depth} | worst LS {worst_ls:.4f} | best BP "
            f"{best_bp:.4f} | {'pass' if ok else 'MISS'} |"
        )
        if not ok:
            misses.append(("ranking", name, depth, f"least squares {worst_ls:.4f} not ahead of backprojection"))
    rules_table = tables["lead field"]["femeit"]["TSVD"]
    for (name, depth), (value, note) in zip(CASES, rules_table, strict=True):
        rank = int(note.split()[2])
        ok = rank == PAPER_RANK[depth]
        lines.append(
            f"| TSVD rank rule (discrete L-curve corner) | {name} z={depth} | r = {rank} (NCE {value:.4f}) | "
            f"r = {PAPER_RANK[depth]} | {'pass' if ok else 'MISS'} |"
        )
        if not ok:
            misses.append(("TSVD rank rule", name, depth, f"r = {rank} vs the paper's {PAPER_RANK[depth]}"))
    lines += ["", RANK_NOTE]
    lines += [
        "",
        "## Fig. 10: Marquardt, modified Schlumberger array, published lambdas (converged lead field)",
        "",
        'The paper: "The sphere position was correctly detected in both cases" (no NCE given).',
        "",
        "| case | lambda | centre (x, z) of the largest voxel | sphere's voxel | NCE | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for label, (peak, target, nce, lam, centres) in fig10.items():
        ok = peak == target
        where = [f"({centres[i][0]:g}, {centres[i][2]:g})" for i in (peak, target)]
        lines.append(f"| {label} | {lam:.3g} | {where[0]} | {where[1]} | {nce:.4f} | {'pass' if ok else 'MISS'} |")
        if not ok:
            misses.append(("Fig. 10", label, 0.0, f"maximum in voxel {peak + 1}, sphere in {target + 1}"))
    lines += ["", "Misses and their reasons:", ""]
    for method, name, depth, text in misses:
        reason = KNOWN_MISSES.get((method, name, depth))
        lines.append(f"- {method}, {name} z={depth}: {text}; " + (f"reason: {reason}" if reason else "UNEXPECTED"))
        if reason is None:
            failures.append(f"{method} {name} z={depth}: {text}")
    if not misses:
        lines.append("- none")
    text = "\n".join(lines) + "\n"
    text += "\n" + ("\n".join(f"- FAIL: {f}" for f in failures) if failures else "No unexpected miss.") + "\n"
    print(text)
    (out / "gasulla2005.md").write_text(text)
    plot(images, out)
    return failures


def plot(images: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(PUBLISHED)
    for name, depth in CASES:
        fig, axes = plt.subplots(len(methods), 1, figsize=(6, 1.6 * len(methods)), constrained_layout=True)
        for ax, method in zip(axes, methods, strict=True):
            img, note = images[(name, depth, method)]
            ax.imshow(img / np.nanmax(np.abs(img)), extent=(-8.5, 8.5, -5, 0), cmap="RdBu_r", vmin=-1, vmax=1)
            ax.add_patch(plt.Circle((0, -depth), 0.5, fill=False, color="k"))
            ax.set_title(f"{method} ({note})", fontsize=8)
            ax.set_yticks([0, -2.5, -5])
        fig.suptitle(f"{name}, sphere at depth {depth}", fontsize=9)
        fig.savefig(out / f"gasulla2005_{name.replace('-', '')}_z{depth}.png", dpi=100)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
