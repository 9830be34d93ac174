"""SMDR reconstruction speed (median wall time, one process).

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/smdr.py

The SMDR paper's set-up (disk of radius 1 m, 16 electrodes 5 cm wide,
adjacent, 208 readings) imaged on a 62 x 62 pixel grid clipped to the disk
(about 3120 pixels).  Times:
* precomputation (Jacobian on the grid, normalisation, SMDR's Gram and
  Tikhonov matrices),
* one SMDR frame (target 5 ms; the paper reports 79 ms in MATLAB) for frames
  of three phantoms (the cost depends on the cluster sizes), and its parts,
* one Tikhonov frame (a matrix-vector product).
"""

from __future__ import annotations

import time

from timing import median_time

import femeit as fe
from femeit.forward import ForwardModel
from femeit.grids import PixelGrid
from femeit.inverse import SMDR, kmeans_1d, normalize_system, prepare
from femeit.phantom import Box, Disk, Phantom
from femeit.protocol import Protocol

PHANTOMS = {
    "circle near the centre": Phantom(1.0, ((Disk((0.1, 0.15), 0.3), 2.0),)),
    "circle near the edge": Phantom(1.0, ((Disk((0.55, -0.35), 0.25), 2.0),)),
    "square": Phantom(1.0, ((Box((-0.45, -0.1), (0.1, 0.45)), 2.0),)),
}


def main() -> None:
    spec = fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.05, h=0.04, h_electrode=0.0125)
    mesh = fe.mesh_from_spec(spec)
    model = ForwardModel(mesh, Protocol.adjacent(16), 0.01)
    grid = PixelGrid(mesh, (-1, 1, -1, 1), (62, 62))
    start = time.perf_counter()
    z0 = model.simulate(1.0)
    jac = normalize_system(model.jacobian(1.0, basis=grid.P), z0, 1.0)
    t_jac = time.perf_counter() - start
    system = prepare(jac)
    lam = 0.0106 * system.s[0] ** 2  # the validation's lambda (median L-curve corner)
    start = time.perf_counter()
    solver = SMDR(jac, lam)
    t_pre = time.perf_counter() - start
    tik = system.tikhonov_matrix(lam)
    print(f"grid: {grid.n_params} pixels; Jacobian {t_jac:.2f} s, SMDR precomputation {t_pre * 1e3:.0f} ms")
    for name, phantom in PHANTOMS.items():
        y = (model.simulate(phantom.on_mesh(mesh)) - z0) / z0
        r = solver(y)
        total = median_time(lambda y=y: solver(y), 100)
        sizes = ", ".join(str(s) for s in r.clusters0.sizes)
        print(f"{name}: clusters of x0 {sizes}")
        print(f"  one SMDR frame:        {total * 1e3:.2f} ms   (target 5 ms; paper 79 ms)")
        print(f"    k-means of x0:       {median_time(lambda r=r: kmeans_1d(r.x0, 4), 100) * 1e3:.2f} ms")
        for label, area in (("A", r.area_a), ("R", r.area_r)):
            t = median_time(lambda area=area, y=y: solver.restricted(area, y), 50)
            print(f"    re-reconstruction {label}: {t * 1e3:.2f} ms (alone, no Gram sharing)")
        print(f"  one Tikhonov frame:    {median_time(lambda y=y: tik @ y, 100) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
