"""One-step reconstruction speed (median wall time, one process).

Run:  python benchmarks/inverse.py

A 16-electrode disk (adjacent, 208 readings) imaged on a 64 x 64 pixel grid
clipped to the disk; times:
* precomputation (Jacobian on the grid, SVD, reconstruction matrix),
* one Tikhonov frame and one TSVD frame (a matrix-vector product), alone and
  amortised over a batch of 100 frames,
* a 100-point L-curve (residual and solution norms for 100 lambdas, and the corner).
"""

from __future__ import annotations

import time

import numpy as np
from timing import median_time

import femeit as fe
from femeit.forward import ForwardModel
from femeit.grids import PixelGrid
from femeit.inverse import choose_lambda, prepare
from femeit.protocol import Protocol


def main() -> None:
    mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.03, h_electrode=0.01))
    grid = PixelGrid(mesh, (-1, 1, -1, 1), (72, 72))
    model = ForwardModel(mesh, Protocol.adjacent(16), 0.01)
    y = model.simulate(1.0 + 0.1 * np.random.default_rng(0).random(mesh.n_elements)) - model.simulate(1.0)
    start = time.perf_counter()
    jac = model.jacobian(1.0, basis=grid.P)
    system = prepare(jac)
    lam = choose_lambda(system, y)["lam"]
    tik = system.tikhonov_matrix(lam)
    tsv = system.tsvd_matrix(40)
    pre = time.perf_counter() - start
    frames = np.tile(y[:, None], (1, 100))
    print(f"grid: {grid.n_params} pixels inside the disk; precomputation {pre:.3f} s")
    print(f"one Tikhonov frame:            {median_time(lambda: tik @ y) * 1e3:.3f} ms   (target 0.1 ms)")
    print(f"one TSVD frame:                {median_time(lambda: tsv @ y) * 1e3:.3f} ms")
    batch = median_time(lambda: tik @ frames, 20) / 100
    print(f"Tikhonov, batch of 100 frames: {batch * 1e3:.3f} ms per frame")
    print(
        f"100-point L-curve and corner:  {median_time(lambda: choose_lambda(system, y, n=100), 20) * 1e3:.2f} ms"
        "   (target 50 ms)"
    )


if __name__ == "__main__":
    main()
