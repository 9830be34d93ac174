"""
Complete electrode model vs point electrodes
============================================

On the unit disk with sixteen electrodes of arc length 0.2, the complete
electrode model (CEM) is compared with the analytic Fourier-Ritz solution,
and with point electrodes and shunt electrodes on the same mesh. Point
electrodes ignore the electrode width and the contact impedance: the readings
next to the driven pair differ most.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

import femeit as fe
from femeit.analytic import disk_cem_potentials, protocol_voltages
from femeit.forward import ForwardModel
from femeit.protocol import Protocol

QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")
spec = fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.2, h=0.1 if QUICK else 0.05)
mesh = fe.mesh_from_spec(spec)
protocol = Protocol.adjacent(16)
z = 0.01  # contact impedance, ohm m

exact = protocol_voltages(
    protocol, disk_cem_potentials(1.0, 1.0, np.array(spec.electrode_angles_deg()), 0.2, z, protocol.injections)
)
readings = {m: ForwardModel(mesh, protocol, z, electrode_model=m, order=2).simulate(1.0) for m in ("cem", "shunt")}
point_mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.0, h=spec.h))
readings["point"] = ForwardModel(point_mesh, protocol, electrode_model="point", order=2).simulate(1.0)

# %%
# The first injection's 13 readings, and the error of each model
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
rows = slice(0, 13)
axes[0].plot(exact[rows], "k-", lw=3, alpha=0.4, label="analytic CEM")
for name, v in readings.items():
    axes[0].plot(v[rows], "o--", ms=4, label=name)
axes[0].set(xlabel="reading (first current pattern)", ylabel="transfer impedance (ohm)")
axes[0].legend()
for name, v in readings.items():
    axes[1].semilogy(np.abs(v - exact) / np.abs(exact).max(), ".", label=name)
axes[1].set(xlabel="reading", ylabel="|v - v_exact| / max |v_exact|")
axes[1].legend()
fig.tight_layout()
for name, v in readings.items():
    print(f"{name:6s} worst relative error {np.abs(v - exact).max() / np.abs(exact).max():.2e}")
