"""Build the EIDORS cross-check fixtures (see README.md in this folder).

    python tests/data/eidors/make_fixtures.py --eidors /path/to/eidors/dirs \
        --eidors-version "..." [--work /tmp/eidors_fixtures]

Step 1 writes each mesh of MESHES, its electrode node lists, contact
impedances, conductivity and adjacent stimulation into
``<work>/<name>_in.mat``; step 2 runs ``make_fixtures.m`` in GNU Octave, which
builds an EIDORS ``fwd_model``/image from those arrays (or, for COMMON, from
EIDORS's own ``mk_common_model``) and calls EIDORS's ``fwd_solve_1st_order``;
step 3 packs the model as EIDORS solved it and its voltages into
``<name>.npz`` here.  No femeit code is used to make the fixtures: the meshes
are built with numpy/scipy (or by EIDORS) only.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import numpy as np
import scipy.io
from scipy.spatial import Delaunay

HERE = Path(__file__).resolve().parent


def _ring_points(radius: float, n_rings: int, n_outer: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Concentric rings of points (the outer ring first, n_outer points from angle 0)."""
    t = 2 * np.pi * np.arange(n_outer) / n_outer
    pts = [np.column_stack([radius * np.cos(t), radius * np.sin(t)])]
    for k in range(n_rings - 1, 0, -1):
        r = radius * k / n_rings
        n = max(6, round(n_outer * k / n_rings))
        t = 2 * np.pi * (np.arange(n) + rng.uniform()) / n
        pts.append(np.column_stack([r * np.cos(t), r * np.sin(t)]))
    pts.append(np.zeros((1, 2)))
    return np.concatenate(pts), n_outer


def _triangulate(points: np.ndarray) -> np.ndarray:
    tri = Delaunay(points).simplices.astype(np.int64)
    p = points[tri]
    a, b = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    area = 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    tri[area < 0] = tri[area < 0][:, [0, 2, 1]]
    assert np.abs(area).min() > 1e-8 * np.abs(area).max(), "degenerate triangle"
    return tri


def adjacent_patterns(n_elec: int, amplitude: float, meas_current: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """EIDORS's mk_stim_patterns(n,1,'{ad}','{ad}',options,amplitude) convention, written out.

    Pattern k (0-based) drives -amplitude on electrode k and +amplitude on k+1;
    a reading is +1 on electrode m and -1 on m+1.  Without ``meas_current``
    (EIDORS's default 'no_meas_current') readings that touch a current-carrying
    electrode are dropped; with it (option 'meas_current') all n are kept, so
    the contact impedance of the driving electrodes enters the data directly.
    """
    stim = np.zeros((n_elec, n_elec))
    meas = []
    for k in range(n_elec):
        a, b = k, (k + 1) % n_elec
        stim[a, k], stim[b, k] = -amplitude, amplitude
        rows = []
        for m in range(n_elec):
            p, q = m, (m + 1) % n_elec
            if not meas_current and {p, q} & {a, b}:
                continue
            row = np.zeros(n_elec)
            row[p], row[q] = 1.0, -1.0
            rows.append(row)
        meas.append(np.array(rows))
    return stim, meas


def disk2d() -> dict:
    """Disk of radius 0.15 m, 16 electrodes of 4 boundary nodes (3 edges) each."""
    rng = np.random.default_rng(0)
    nodes, n_outer = _ring_points(0.15, 14, 128, rng)
    elems = _triangulate(nodes)
    electrodes = [(np.arange(4) + 8 * i - 1) % n_outer for i in range(16)]
    z = np.linspace(0.002, 0.03, 16)[rng.permutation(16)]  # ohm m
    c = nodes[elems].mean(axis=1)
    sigma = 0.5 + 0.1 * c[:, 0] / 0.15 + 1.5 * (np.hypot(c[:, 0] - 0.05, c[:, 1] - 0.03) < 0.04)
    sigma -= 0.4 * (np.hypot(c[:, 0] + 0.06, c[:, 1] + 0.05) < 0.035)
    return dict(
        nodes=nodes, elems=elems, electrodes=electrodes, z_contact=z, sigma=sigma, amplitude=0.010, meas_current=False
    )


def ellipse2d() -> dict:
    """Ellipse 0.2 x 0.12 m, scattered interior nodes, electrodes of unequal width (2 to 5 nodes)."""
    rng = np.random.default_rng(1)
    n_outer = 112
    t = 2 * np.pi * np.arange(n_outer) / n_outer
    outer = np.column_stack([0.2 * np.cos(t), 0.12 * np.sin(t)])
    inner = []
    while len(inner) < 500:
        q = rng.uniform(-1, 1, 2)
        if q @ q < 0.88**2:
            inner.append(q * [0.2, 0.12])
    nodes = np.concatenate([outer, np.array(inner)])
    elems = _triangulate(nodes)
    widths = [2, 3, 4, 5] * 4
    starts = np.arange(16) * 7
    electrodes = [(s + np.arange(w)) % n_outer for s, w in zip(starts, widths, strict=True)]
    z = np.exp(rng.uniform(np.log(1e-4), np.log(0.05), 16))  # ohm m
    sigma = np.exp(0.4 * rng.standard_normal(len(elems)))
    return dict(
        nodes=nodes, elems=elems, electrodes=electrodes, z_contact=z, sigma=sigma, amplitude=1.0, meas_current=True
    )


def cylinder3d() -> dict:
    """Cylinder of radius 0.1 m, height 0.12 m: an extruded ring mesh cut into tetrahedra.

    16 electrodes at mid-height, each a 3 x 3 patch of side nodes (2 angular
    segments by 2 layers, 8 boundary triangles).
    """
    rng = np.random.default_rng(2)
    n_outer, n_layers, height = 64, 8, 0.12
    base, _ = _ring_points(0.1, 5, n_outer, rng)
    tri = _triangulate(base)
    nb = len(base)
    zs = np.linspace(0.0, height, n_layers + 1)
    nodes = np.concatenate([np.column_stack([base, np.full(nb, zz)]) for zz in zs])
    tets = []
    for layer in range(n_layers):
        for t in np.sort(tri, axis=1):
            v0, v1, v2 = t + layer * nb
            w0, w1, w2 = t + (layer + 1) * nb
            # Split by global node order so neighbouring prisms share diagonals.
            tets += [[v0, v1, v2, w2], [v0, v1, w1, w2], [v0, w0, w1, w2]]
    elems = np.array(tets, dtype=np.int64)
    p = nodes[elems]
    vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6
    elems[vol < 0] = elems[vol < 0][:, [0, 2, 1, 3]]
    assert np.abs(vol).min() > 1e-8 * np.abs(vol).max()
    mid = n_layers // 2
    electrodes = []
    for i in range(16):
        ang = (4 * i + np.arange(3) - 1) % n_outer
        electrodes.append(np.concatenate([ang + (mid - 1 + j) * nb for j in range(3)]))
    z = np.linspace(1e-4, 2e-3, 16)[rng.permutation(16)]  # ohm m^2
    c = p.mean(axis=1)
    sigma = 0.3 + 0.7 * (np.linalg.norm(c - [0.03, -0.02, 0.07], axis=1) < 0.035) + 0.2 * c[:, 2] / height
    return dict(
        nodes=nodes, elems=elems, electrodes=electrodes, z_contact=z, sigma=sigma, amplitude=0.005, meas_current=True
    )


MESHES = {"disk2d": disk2d, "ellipse2d": ellipse2d, "cylinder3d": cylinder3d}


COMMON = ("common_d2C2",)  # made by EIDORS's mk_common_model inside make_fixtures.m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eidors", required=True, help="colon-separated folders holding the EIDORS .m files")
    ap.add_argument("--work", default="/tmp/eidors_fixtures")
    ap.add_argument("--eidors-version", required=True, help="EIDORS version/commit string to record")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for name, make in MESHES.items():
        m = make()
        L = len(m["electrodes"])
        stim, meas = adjacent_patterns(L, m["amplitude"], m["meas_current"])
        electrode_cell = np.empty((L, 1), dtype=object)
        for i, e in enumerate(m["electrodes"]):
            electrode_cell[i, 0] = (np.asarray(e) + 1).astype(float).reshape(1, -1)
        meas_cell = np.empty((L, 1), dtype=object)
        for i, mp in enumerate(meas):
            meas_cell[i, 0] = mp
        scipy.io.savemat(
            work / f"{name}_in.mat",
            {
                "nodes": m["nodes"],
                "elems": (m["elems"] + 1).astype(float),
                "elec_nodes": electrode_cell,
                "z_contact": m["z_contact"].reshape(-1, 1),
                "sigma": m["sigma"].reshape(-1, 1),
                "stim": stim,
                "meas": meas_cell,
            },
        )
    names = [*MESHES, *COMMON]
    here = str(HERE)
    subprocess.run(
        [
            "octave-cli",
            "--no-gui",
            "--quiet",
            "--eval",
            f"addpath('{here}'); make_fixtures('{args.eidors}', '{work}', strsplit('{' '.join(names)}'))",
        ],
        check=True,
    )
    for name in names:
        # Everything is read back from what EIDORS solved (1-based there).
        out = scipy.io.loadmat(work / f"{name}_out.mat", squeeze_me=False)
        electrodes = [np.asarray(e, dtype=np.int64).ravel() - 1 for e in out["elec_nodes"].ravel()]
        meas = [np.atleast_2d(np.asarray(mp, dtype=float)) for mp in out["meas_pat"].ravel()]
        stim = np.asarray(out["stim"], dtype=float)
        measurements = np.concatenate(meas)
        np.savez_compressed(
            HERE / f"{name}.npz",
            nodes=np.asarray(out["nodes"], dtype=float),
            elements=np.asarray(out["elems"], dtype=np.int64) - 1,
            electrode_offsets=np.cumsum([0] + [len(e) for e in electrodes]),
            electrode_flat=np.concatenate(electrodes),
            z_contact=np.asarray(out["z_contact"], dtype=float).ravel(),
            sigma=np.asarray(out["sigma"], dtype=float).ravel(),
            injections=stim.T,
            row_injection=np.concatenate([np.full(len(mp), k) for k, mp in enumerate(meas)]),
            measurements=measurements,
            eidors_voltages=np.asarray(out["meas"], dtype=float).ravel(),
            gnd_node=int(np.asarray(out["gnd_node"]).ravel()[0]) - 1,
            eidors_version=args.eidors_version,
            octave_version=str(np.asarray(out["octave_version"]).ravel()[0]),
            n_electrodes=len(electrodes),
        )
        print(name, len(out["nodes"]), "nodes", len(out["elems"]), "elements", len(measurements), "readings")


if __name__ == "__main__":
    main()
