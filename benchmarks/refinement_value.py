"""What the exact readings buy: PARDISO's solver error beside the effect of the assembly's own rounding.

Run:  python benchmarks/refinement_value.py [--draws 4] [--no-kgpsr]

femeit corrects PARDISO's readings by an extended-precision residual
(``ForwardModel.simulate``), which makes them the float64 rounding of the exact
readings *of the assembled float64 matrix*.  That matrix carries rounding of its
own: every entry is a rounded sum of element contributions.  This script
measures, per benchmark case of ``floor_ratio.py`` and per conductivity draw
(log-normal, log sigma of standard deviation 0.3 or 3):

- ``solver error``: the unrefined readings (``ForwardModel(..., exact_readings=False)``)
  beside the corrected ones;
- ``rounding noise``: how far the corrected readings move when every element's
  conductivity is changed by one unit in the last place (up or down at random),
  a change whose true effect on the readings is of order 1e-16: what is seen
  above that is the assembly's rounding carried to the readings, a limit no
  solve of the float64 matrix can beat;
- the same noise for the unrefined PARDISO readings and for SuperLU's.

Every figure is max |difference| over the readings / max |reading|; the table
gives the median (largest) over the draws of each spread.  Where the solver error is no larger
than the rounding noise, the correction buys agreement with the float64 matrix
(and between backends), not accuracy in the conductivity.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import femeit as fe
from femeit.forward import ForwardModel, linsolve
from femeit.protocol import Protocol

ROOT = Path(__file__).resolve().parent.parent
# Standard deviations of log sigma: a smooth medium, and contrasts of 1e4 and more.
SPREADS = (0.3, 3.0)


def cases(kgpsr: bool) -> list[tuple[str, object]]:
    def point_ball(h, protocol=Protocol.adjacent):
        return fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=h, h_electrode=h / 2)), protocol(16), "point", None

    def cem_disk():
        mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.03, h_electrode=0.01))
        return mesh, Protocol.adjacent(16), "cem", 0.01

    def kgpsr_p1(protocol=Protocol.adjacent):
        mesh = fe.mesh_from_spec(fe.load_spec(ROOT / "geometries" / "kgpsr_cylinder.toml"))
        return mesh, protocol(16), "cem", 1e-4

    out = [
        ("ball, point el., h=0.4 (377 unknowns)", lambda: point_ball(0.4)),
        ("ball, point el., h=0.3 (646)", lambda: point_ball(0.3)),
        ("ball, point el., h=0.25 (877)", lambda: point_ball(0.25)),
        ("ball, point el., h=0.16 (2,007)", lambda: point_ball(0.16)),
        ("ball, point el., h=0.25, opposite", lambda: point_ball(0.25, Protocol.opposite)),
        ("disk, P1 CEM, PARDISO forced (2D)", cem_disk),
    ]
    if kgpsr:
        out.append(("KGPSR-BB cylinder, P1 CEM", kgpsr_p1))
        out.append(("KGPSR-BB cylinder, P1 CEM, opposite", lambda: kgpsr_p1(Protocol.opposite)))
    return out


def readings(mesh, protocol, electrodes, z, sigma, solver: str, refine: bool) -> np.ndarray:
    """The readings of a new model (nothing kept from another conductivity or setting)."""
    kwargs = {"electrode_model": "point"} if electrodes == "point" else {"contact_impedance": z}
    return ForwardModel(mesh, protocol, solver=solver, exact_readings=refine, **kwargs).simulate(sigma)


def measure(mesh, protocol, electrodes, z, spread: float, draws: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(7)
    out: dict[str, list[float]] = {key: [] for key in ("solver", "noise", "noise unrefined", "noise splu")}
    for _ in range(draws):
        sigma = np.exp(spread * rng.standard_normal(mesh.n_elements))
        nudged = sigma * (1.0 + rng.choice([-1.0, 1.0], mesh.n_elements) * 2.0**-52)
        exact = readings(mesh, protocol, electrodes, z, sigma, "pardiso", True)
        scale = np.abs(exact).max()

        def gap(a, b, scale=scale):
            return float(np.abs(a - b).max() / scale)

        unrefined = readings(mesh, protocol, electrodes, z, sigma, "pardiso", False)
        out["solver"].append(gap(unrefined, exact))
        out["noise"].append(gap(readings(mesh, protocol, electrodes, z, nudged, "pardiso", True), exact))
        out["noise unrefined"].append(gap(readings(mesh, protocol, electrodes, z, nudged, "pardiso", False), unrefined))
        splu = readings(mesh, protocol, electrodes, z, sigma, "splu", False)
        out["noise splu"].append(gap(readings(mesh, protocol, electrodes, z, nudged, "splu", False), splu))
    return out


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1e} ({max(values):.1e})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3, help="conductivity draws per case and spread")
    parser.add_argument("--no-kgpsr", action="store_true", help="leave out the 71,802-tetrahedron cylinder")
    args = parser.parse_args()
    if args.draws < 1:
        parser.error(f"--draws must be at least 1, got {args.draws}")
    if "pardiso" not in linsolve.available_backends():
        raise SystemExit("this measurement needs PARDISO (pypardiso)")
    start = time.perf_counter()
    print(
        "| case | log sigma spread | unrefined PARDISO beside corrected | corrected, sigma nudged 1 ulp "
        "| unrefined, nudged | SuperLU, nudged |"
    )
    print("|---|---|---|---|---|---|")
    for name, make in cases(not args.no_kgpsr):
        model = make()
        for spread in SPREADS:
            r = measure(*model, spread, args.draws)
            print(
                f"| {name} | {spread} | {cell(r['solver'])} | {cell(r['noise'])} | {cell(r['noise unrefined'])} "
                f"| {cell(r['noise splu'])} |",
                flush=True,
            )
    print(f"\n{args.draws} draws per case and spread; median (largest); {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
