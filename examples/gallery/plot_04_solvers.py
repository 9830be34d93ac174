"""
Every solver on one phantom
===========================

Data from a finer mesh than the one inverted on (no inverse crime), 40 dB
noise, one off-centre disk; every classical solver of the registry with its
automatic parameters, built once with :func:`femeit.inverse.build` and called
on the data difference.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

import femeit as fe
from femeit import metrics
from femeit.forward import ForwardModel
from femeit.grids import PixelGrid
from femeit.inverse import build
from femeit.inverse.registry import SOLVERS
from femeit.noise import add_noise
from femeit.noise_model import NoiseModel
from femeit.phantom import Disk, Phantom
from femeit.protocol import Protocol

QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")
h = 0.1 if QUICK else 0.08
mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=h, h_electrode=h / 3))
fine = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=h / 2, h_electrode=h / 6))
protocol = Protocol.adjacent(16)
model, fine_model = ForwardModel(mesh, protocol, 0.01), ForwardModel(fine, protocol, 0.01)
grid = PixelGrid(mesh, shape=(24, 24) if QUICK else (32, 32), min_fraction=0.5)
jac = model.jacobian(1.0, basis=grid.P)

phantom = Phantom(1.0, ((Disk((0.4, 0.2), 0.25), 2.0),))
reference = fine_model.simulate(1.0)
data = add_noise(fine_model.simulate(phantom.on_mesh(fine)), snr_db=40.0, seed=0)
truth = phantom.on_grid(grid, mesh) - 1.0
noise = NoiseModel.from_reference(reference, relative=0.01)

# %%
names = sorted(SOLVERS)
fig, axes = plt.subplots(2, (len(names) + 2) // 2, figsize=(2.3 * ((len(names) + 2) // 2), 5))
axes = axes.ravel()
axes[0].imshow(grid.to_image(truth), cmap="RdBu_r", vmin=-1, vmax=1)
axes[0].set_title("truth", fontsize=9)
for ax, name in zip(axes[1:], names, strict=False):
    rec = build(name, jac, grid=grid, noise=noise, reference=reference)(data - reference)
    image = grid.to_image(rec.x)
    lim = np.nanpercentile(np.abs(image), 99.5) or 1.0
    ax.imshow(image, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"{name}\nCC {metrics.correlation_coefficient(truth, rec.x):.2f}", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
