"""Landweber and the corrected Landweber (ERT paper): speed on the paper's 1.5k-element problem.

Run:  python benchmarks/landweber.py

A 50 mm disk, 16 electrodes, the 104 reciprocal-unique adjacent readings,
inversion on about 1.5k triangles (one parameter per element), data from a
13k-triangle mesh.  Times (median): 600 projected Landweber iterations on a
fixed Jacobian; Algorithm 3 with 2 corrections (500 + 100 iterations) including
both Jacobians and the three forward solves (target 0.5 s).
"""

from __future__ import annotations

import numpy as np
from timing import median_time

import femeit as fe
from femeit.forward import ForwardModel
from femeit.inverse.landweber import corrected_landweber, landweber
from femeit.phantom import Disk, Phantom
from femeit.protocol import Protocol


def main() -> None:
    spec = dict(radius=0.025, n_electrodes=16, electrode_width=0.005)
    mesh = fe.mesh_from_spec(fe.CircleSpec(**spec, h=0.00245, h_electrode=0.001225))
    fine = fe.mesh_from_spec(fe.CircleSpec(**spec, h=0.0007))
    full = Protocol.adjacent(16)
    protocol = Protocol.from_abmn(full.abmn[full.reciprocal_unique_rows()], 16)
    model, fine_model = ForwardModel(mesh, protocol, 1e-5), ForwardModel(fine, protocol, 1e-5)
    data = fine_model.simulate(Phantom(1.0, ((Disk((0.009, 0.005), 0.007), 1e-3),)).on_mesh(fine))
    reference = fine_model.simulate(1.0)
    jac = model.jacobian(1.0)
    dz = data - reference
    print(f"{mesh.n_elements} elements, {protocol.n_rows} readings")
    t = median_time(lambda: landweber(jac, dz, 600, bounds=(1e-3 - 1.0, 0.0)), 20)
    print(f"600 projected Landweber iterations:        {t * 1e3:.1f} ms")
    t = median_time(lambda: model.jacobian(np.full(mesh.n_elements, 0.7)), 20)
    print(f"one forward solve + Jacobian:              {t * 1e3:.1f} ms")
    t = median_time(lambda: corrected_landweber(model, data, reference, 1.0, corrections=2), 10)
    print(f"Algorithm 3, 2 corrections, 600 iterations: {t * 1e3:.1f} ms   (target 500 ms)")


if __name__ == "__main__":
    main()
