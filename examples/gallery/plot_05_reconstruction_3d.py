"""
A 3D reconstruction
===================

A cylindrical tank with a ring of sixteen circular electrodes and a
conductive sphere. Data from a finer mesh; Tikhonov on a voxel grid; the
truth and the reconstruction rendered on slices through the sphere with a
symmetric colour scale.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

import femeit as fe
from femeit.forward import ForwardModel
from femeit.grids import VoxelGrid
from femeit.inverse import build
from femeit.noise import add_noise
from femeit.noise_model import NoiseModel
from femeit.phantom import Phantom, Sphere
from femeit.protocol import Protocol
from femeit.viz import render3d

QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")
ring = fe.ElectrodeRing(z=0.05, n_electrodes=16, shape="circle", electrode_radius=0.01)


def spec(h):
    return fe.CylinderSpec(radius=0.1, height=0.1, rings=(ring,), h=h)


h = 0.02 if QUICK else 0.014
mesh, fine = fe.mesh_from_spec(spec(h)), fe.mesh_from_spec(spec(0.7 * h))
protocol = Protocol.adjacent(16)
model, fine_model = ForwardModel(mesh, protocol, 0.01), ForwardModel(fine, protocol, 0.01)
grid = VoxelGrid(mesh, shape=(10, 10, 5) if QUICK else (14, 14, 7), min_fraction=0.5)
jac = model.jacobian(1.0, basis=grid.P)

phantom = Phantom(1.0, ((Sphere((0.045, 0.0, 0.05), 0.025), 3.0),))
reference = fine_model.simulate(1.0)
data = add_noise(fine_model.simulate(phantom.on_mesh(fine)), snr_db=50.0, seed=1)
rec = build("tikhonov", jac, grid=grid, noise=NoiseModel.from_reference(reference, relative=0.003),
            reference=reference)(data - reference)
print("lambda:", rec.params.get("lam"), rec.params.get("rule"))

# %%
# Per element: the voxel values carried back to the mesh through the grid's map P
truth = phantom.on_mesh(mesh) - 1.0
image = grid.P @ rec.x
slices = (("z", 0.05), ("y", 0.0))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
axes[0].imshow(render3d(mesh, truth, slices=slices, symmetric=True, label="true change (S/m)", window_size=(560, 460)))
axes[0].set_title("truth")
lim = float(np.abs(image).max())
axes[1].imshow(render3d(mesh, image, slices=slices, clim=(-lim, lim), cmap="RdBu_r",
                        label="reconstructed change (S/m)", window_size=(560, 460)))
axes[1].set_title("Tikhonov, automatic lambda")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
