"""
A dataset and a training run, in miniature
==========================================

A dataset is declared in a few lines (here a dict; usually a TOML file),
simulated into a zarr store, read back, and a CNN-EIM network is trained on
it for a few epochs. The real thing is the same with ``n_samples`` in the
tens of thousands and 200 epochs (:doc:`/howto/dataset`,
:doc:`/howto/learned_solver`). Needs ``pip install -e ".[learn]"``.
"""

import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from femeit import datasets, learn
from femeit.protocol import Protocol

QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")
config = datasets.config_from_dict(
    {
        "seed": 3,
        "sensor": {"kind": "circle", "radius": 1.0, "n_electrodes": 16, "electrode_width": 0.1,
                   "h": 0.15, "h_electrode": 0.06},
        "forward": {"protocol": "adjacent", "contact_impedance": 0.01},
        "phantom": {"background": 0.05, "conductivity": 1e-4, "radius": [0.15, 0.3], "margin": 0.05,
                    "n_objects": [1, 2]},
        "noise": {"snr_db": 50},
        "image": {"shape": [64, 64]},
        "split": {"validation": 0.2, "test": 0.2},
    }
)
work = Path(tempfile.mkdtemp(prefix="femeit-gallery-"))
n = 32 if QUICK else 160
report = datasets.generate(config, work / "tiny.zarr", n, workers=1, chunk_size=n, progress=False)
ds = datasets.open(work / "tiny.zarr")
print(f"{n} samples: voltages {ds.voltages.shape}, impedance maps {ds.eim.shape}, images {ds.images.shape}")

# %%
# Train CNN-EIM for a few epochs
history = learn.train(
    work / "tiny.zarr", work / "run",
    learn.TrainConfig(network="cnn-eim", epochs=2 if QUICK else 10, batch_size=8, learning_rate=2e-3),
    progress=False,
)
rec = learn.Reconstructor(work / "run")
test = ds.indices("test")[:3]
images = rec(ds.voltages[test], ds.reference, Protocol.from_abmn(ds.abmn, 16))

fig, axes = plt.subplots(2, 4, figsize=(11, 5.5))
axes[0, 0].plot(history["loss"], "o-")
axes[0, 0].set(title="training loss", xlabel="epoch")
axes[1, 0].imshow(ds.eim[test[0]], cmap="viridis")
axes[1, 0].set_title("an impedance map (16 x 16)")
for j, i in enumerate(test):
    axes[0, j + 1].imshow(ds.images[i], vmin=0, vmax=0.05)
    axes[0, j + 1].set_title(f"truth, test sample {i}")
    axes[1, j + 1].imshow(images[j], vmin=0, vmax=0.05)
    axes[1, j + 1].set_title("CNN-EIM")
for ax in axes[:, 1:].ravel():
    ax.axis("off")
fig.tight_layout()

shutil.rmtree(work)  # the store and the run were only for this example
