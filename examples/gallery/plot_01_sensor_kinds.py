"""
Every kind of sensor
====================

Six spec kinds, each meshed by gmsh from a few lines: a disk and a 2D tank of
any outline (drawn with :func:`femeit.viz.plot_mesh`: every electrode
numbered, regions in a legend), and four 3D models rendered off-screen with
:func:`femeit.viz.render3d` (regions in categorical colours, electrodes as
surfaces).
"""

import os

import matplotlib.pyplot as plt

import femeit as fe
from femeit.viz import plot_mesh, render3d

QUICK = os.environ.get("FEMEIT_DOCS_QUICK", "") not in ("", "0")
coarse = 2.0 if QUICK else 1.0  # quick mode (CI): coarser meshes

# %%
# 2D: a disk with an inclusion, and a tank of any outline
disk = fe.mesh_from_spec(
    fe.CircleSpec(radius=1.0, n_electrodes=16, h=0.1 * coarse, inclusions=(fe.CircleInclusion(0.3, 0.2, 0.25),))
)
thorax_2d = fe.mesh_from_spec(
    fe.ContourSpec(
        outline=fe.Outline(shape="ellipse", a=0.15, b=0.10),
        rings=(fe.OutlineRing(n_electrodes=16, width=0.02),),
        h=0.012 * coarse,
        inclusions=(fe.EllipseInclusion(-0.07, 0.0, 0.04, 0.05, name="lung"),),
    )
)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
plot_mesh(disk, ax=axes[0], title="circle: 16 electrodes, one inclusion")
plot_mesh(thorax_2d, ax=axes[1], title="contour: an ellipse with a lung")
fig.tight_layout()

# %%
# 3D: a cylinder, a thorax-like extruded tank, a ball and a half-space line
ring = fe.ElectrodeRing(z=0.05, n_electrodes=16, shape="circle", electrode_radius=0.01)
cylinder = fe.mesh_from_spec(
    fe.CylinderSpec(radius=0.1, height=0.1, rings=(ring,), h=0.02 * coarse,
                    inclusions=(fe.SphereInclusion(0.04, 0.0, 0.05, 0.025),))
)
thorax = fe.mesh_from_spec(
    fe.ExtrudedSpec(
        outline=fe.Outline(shape="ellipse", a=0.15, b=0.10),
        height=0.2,
        h=0.04 * coarse,
        rings=(fe.OutlineRing(n_electrodes=16, shape="rectangle", width=0.02, height=0.02, z=0.1),),
        inclusions=(fe.EllipsoidInclusion(-0.07, 0.0, 0.1, 0.045, 0.055, 0.07, name="lung"),),
    )
)
ball = fe.mesh_from_spec(fe.BallSpec(radius=1.0, electrode_radius=0.08, h=0.3 * coarse, inner_radius=0.5))
line = fe.mesh_from_spec(
    fe.HalfspaceLineSpec(dim=3, n_electrodes=16, padding=1.0, h_electrode=0.15, h_survey=0.6 * coarse, h_far=6.0,
                         h_inclusion=0.25, inclusions=(fe.SphereInclusion(0.0, 0.0, -1.5, 0.5),))
)
views = {
    "cylinder": render3d(cylinder, window_size=(480, 400)),
    "extruded (thorax)": render3d(thorax, window_size=(480, 400)),
    "ball (layered)": render3d(ball, window_size=(480, 400)),
    "half-space line": render3d(line, bounds=(-10, 10, -4, 4, -6, 0), window_size=(480, 400)),
}
fig, axes = plt.subplots(2, 2, figsize=(10, 8.5))
for ax, (name, image) in zip(axes.ravel(), views.items(), strict=True):
    ax.imshow(image)
    ax.set_title(name)
    ax.axis("off")
fig.tight_layout()
