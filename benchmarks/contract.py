"""Per-frame time of every registry solver after it is built (the solver contract).

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/contract.py

A 16-electrode disk (adjacent protocol, 208 readings) on a pixel grid of
about 1024 pixels, a noise model with 0.3 % relative noise, and frames of a
two-object phantom simulated on a finer mesh.  Each solver is built once
(SVD, Gram matrices, normalisation) and timed per frame, automatic parameter
choice included.  Targets (issue 17): one-step solvers (Tikhonov, Occam,
TSVD, backprojection) < 1 ms, sparse solvers (GPSR-BB, TGPSR-BB, KGPSR-BB,
TwIST) < 20 ms, SMDR < 5 ms; a benchmark, not a timed test.

The machine may be shared: besides the median wall time per frame the table
gives the CPU time per frame (``time.process_time``, all threads of this
process; with one BLAS thread it is the work done) and the load average.
"""

from __future__ import annotations

import os
import time

import numpy as np
from timing import median_time

import femeit as fe
from femeit.forward import ForwardModel
from femeit.grids import PixelGrid
from femeit.inverse.base import CLASSICAL, build
from femeit.noise_model import NoiseModel
from femeit.phantom import Box, Disk, Phantom
from femeit.protocol import Protocol

TARGET_MS = {"tikhonov": 1, "occam": 1, "tsvd": 1, "backprojection": 1, "smdr": 5}
TARGET_MS.update(dict.fromkeys(("gpsr", "tgpsr", "kgpsr", "twist"), 20))


def main() -> None:
    def spec(h, he):
        return fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.1, h=h, h_electrode=he)

    mesh, fine = fe.mesh_from_spec(spec(0.06, 0.02)), fe.mesh_from_spec(spec(0.04, 0.015))
    protocol = Protocol.adjacent(16)
    model, fine_model = ForwardModel(mesh, protocol, 0.01), ForwardModel(fine, protocol, 0.01)
    grid = PixelGrid(mesh, shape=(36, 36), min_fraction=0.5)
    jac = model.jacobian(1.0, basis=grid.P)
    v0 = fine_model.simulate(1.0)
    phantom = Phantom(1.0, ((Disk((-0.4, 0.3), 0.25), 3.0), (Box((0.1, -0.6), (0.5, -0.2)), 0.4)))
    noise = NoiseModel(absolute=3e-4 * np.abs(v0).mean(), relative=3e-3)
    rng = np.random.default_rng(0)
    clean = fine_model.simulate(phantom.on_mesh(fine)) - v0
    frames = [clean + noise.std(v0) * rng.standard_normal(len(v0)) for _ in range(5)]
    print(f"{jac.shape[0]} readings x {jac.shape[1]} pixels; OPENBLAS_NUM_THREADS sets the threads")
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'solver':15s} {'build s':>8s} {'ms / frame':>10s} {'CPU ms':>8s} {'target ms':>9s}")
    for name in (s for s in CLASSICAL if s != "marquardt"):
        start = time.perf_counter()
        solver = build(name, jac, grid=grid, noise=noise, reference=v0)
        built = time.perf_counter() - start
        k = iter(range(10**9))
        ms = 1000 * median_time(lambda s=solver, k=k: s(frames[next(k) % len(frames)]), repeat=20)
        cpu = time.process_time()
        for i in range(20):
            solver(frames[i % len(frames)])
        cpu_ms = 1000 * (time.process_time() - cpu) / 20
        target = TARGET_MS.get(name)  # Landweber has none
        flag = "" if target is None or ms < target else "  (above target)"
        print(f"{name:15s} {built:8.2f} {ms:10.2f} {cpu_ms:8.2f} {target or '-':>9}{flag}")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
