"""
Real tank data: KTC2023
=======================

Level 1 of the Kuopio Tomography Challenge 2023 (shipped with femeit):
calibrate the tank model on the empty-tank frame, reconstruct each target by
Occam difference imaging with the L-curve's lambda, segment, and score with
the challenge's metric. No ground truth is used for any choice.
"""

import matplotlib.pyplot as plt
import numpy as np

from femeit import ktc2023 as ktc
from femeit.grids import PixelGrid
from femeit.measured.calibration import calibrate
from femeit.measured.difference import DifferenceProblem, reconstruct, to_challenge_image
from femeit.measured.segmentation import threshold_segmentation

level, truths = ktc.load_level(1), ktc.load_truths()
model = ktc.tank_model(level.reference.protocol)
fit = calibrate(model, level.reference.voltages)
model = model.with_contact_impedance(fit.contact_impedance)
r = ktc.RADIUS
grid = PixelGrid(model.mesh, bounds=(-r, r, -r, r), shape=(32, 32))
problem = DifferenceProblem.build(model, fit.sigma, grid)
print(f"calibrated: sigma {fit.sigma:.4g} S/m, residual {fit.residual:.2%}")

# %%
fig, axes = plt.subplots(3, len(ktc.TARGETS), figsize=(2.8 * len(ktc.TARGETS), 8))
for j, t in enumerate(ktc.TARGETS):
    jac, dv, vref = problem.system(level.data[t].voltages, level.reference.voltages, level.mask)
    image = to_challenge_image(grid, reconstruct("occam", jac, dv, vref, grid))
    labels = threshold_segmentation(image, 0.5, 0.5)
    lim = np.abs(image).max()
    axes[0, j].imshow(truths[t], vmin=0, vmax=2)
    axes[0, j].set_title(f"truth {t}")
    axes[1, j].imshow(image, cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[1, j].set_title("Occam difference image")
    axes[2, j].imshow(labels, vmin=0, vmax=2)
    axes[2, j].set_title(f"score {ktc.ktc_score(truths[t], labels):.2f}")
for ax in axes.ravel():
    ax.axis("off")
fig.tight_layout()
