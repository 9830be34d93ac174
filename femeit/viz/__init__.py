"""Pictures: matplotlib for 2D figures, pyvista (off-screen) for 3D renderings.

Both are optional (``pip install 'femeit[viz]'``) and imported only inside the
functions.  Every function returns the figure (matplotlib) or the image array
(pyvista) and, given ``path``, also saves a PNG.  Figures are built without
pyplot, so the user's matplotlib backend is never switched.
"""

from femeit.viz.plots import (
    plot_conductivity,
    plot_convergence,
    plot_image,
    plot_image_grid,
    plot_lcurve,
    plot_mesh,
    subplots,
)
from femeit.viz.render import render3d

__all__ = [
    "plot_conductivity",
    "plot_convergence",
    "plot_image",
    "plot_image_grid",
    "plot_lcurve",
    "plot_mesh",
    "render3d",
    "subplots",
]
