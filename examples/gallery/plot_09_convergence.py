"""
A 3D convergence study
======================

:func:`femeit.convergence.convergence_study` refines a spec's mesh and
measures the error of the readings against the analytic solution (here the
homogeneous ball with 16 point electrodes) or, for a spec without one, against
a finer mesh (here the same ball with cap electrodes and the complete electrode
model). The command line does
the same: ``femeit convergence SPEC --orders 1 2 --levels 3 -o study``.
"""

import os

import matplotlib.pyplot as plt

import femeit as fe
from femeit.convergence import convergence_study

QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")

ball = fe.BallSpec(radius=1.0, h=0.5, h_electrode=0.2 if QUICK else 0.1)
study = convergence_study(ball, orders=(1, 2), levels=2 if QUICK else 3)
print(study.table())

caps = fe.BallSpec(radius=1.0, electrode_radius=0.1, h=0.5, h_electrode=0.08)
self_study = convergence_study(caps, orders=(1,), levels=2, reference="finer")
print(self_study.table())

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
study.plot(ax=axes[0], title="ball, point electrodes: against the closed form")
self_study.plot(ax=axes[1], title="ball, CEM cap electrodes: against a finer mesh")
fig.tight_layout()
