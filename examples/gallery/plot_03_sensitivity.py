"""
Jacobian and sensitivity maps
=============================

The Jacobian ``J = d readings / d sigma`` (adjoint method) of a 16-electrode
disk: one row is the sensitivity of one reading to every element; the column
sums of ``|J|`` divided by the element areas show where the protocol sees
(the centre of a tank is the least sensitive place).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

import femeit as fe
from femeit.forward import ForwardModel
from femeit.protocol import Protocol
from femeit.viz import plot_conductivity

QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")
mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.1, h=0.08 if QUICK else 0.04))
model = ForwardModel(mesh, Protocol.adjacent(16), 0.01)
J = model.jacobian(1.0)  # (208, n_elements), ohm per (S/m)
area = mesh.element_measures()

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
row = J[3] / area
lim = np.percentile(np.abs(row), 99)
plot_conductivity(mesh, row, ax=axes[0], cmap="RdBu_r", vmin=-lim, vmax=lim,
                  title="reading 4 (drive e01-e02, measure e06-e07)", label="dV/dsigma per area")
plot_conductivity(mesh, np.log10(np.abs(J).sum(axis=0) / area), ax=axes[1],
                  title="total sensitivity", label="log10 sum |J| / area")
row = J[6 * 13 + 4] / area
lim = np.percentile(np.abs(row), 99)
plot_conductivity(mesh, row, ax=axes[2], cmap="RdBu_r", vmin=-lim, vmax=lim,
                  title="reading 83 (drive e07-e08)", label="dV/dsigma per area")
fig.tight_layout()
