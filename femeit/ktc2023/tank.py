"""The KTC2023 water tank, defined once: its geometry spec and its forward model.

``geometries/ktc2023_tank.toml`` in the source tree is this spec written out
(a test checks that they agree).
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError
from femeit.forward import ForwardModel
from femeit.geometry import mesh_from_spec
from femeit.geometry.specs import CircleSpec
from femeit.ktc2023.reader import ELECTRODE_WIDTH, N_ELECTRODES, RADIUS
from femeit.protocol import Protocol

H = 0.006
"""Default bulk element size, m (electrodes get H / 4): the size the KTC2023 validation was run with."""


def tank_spec(width_factor: float = 1.0, h: float = H) -> CircleSpec:
    """The 2D tank: radius 0.115 m, 32 electrodes of 5.625 degrees, electrode 1 at +y, counter-clockwise.

    Parameters
    ----------
    width_factor : float
        Electrode width relative to the nominal 5.625 degrees (the calibration fits it), in (0, 2).
    h : float
        Bulk element size, m (electrodes get h / 4).

    Returns
    -------
    CircleSpec
    """
    if not 0 < width_factor < 2:
        raise FemeitError(f"width_factor must lie in (0, 2) (electrodes would overlap), got {width_factor}")
    return CircleSpec(
        radius=RADIUS,
        n_electrodes=N_ELECTRODES,
        electrode_width=width_factor * ELECTRODE_WIDTH,
        first_angle_deg=90.0,
        direction="ccw",
        h=h,
        h_electrode=h / 4,
    )


def tank_model(
    protocol: Protocol,
    width_factor: float = 1.0,
    h: float = H,
    contact_impedance: float | np.ndarray = 0.01,
) -> ForwardModel:
    """A 2D CEM forward model of the tank (P1) on the mesh of :func:`tank_spec`.

    Parameters
    ----------
    protocol : Protocol
        Usually ``load_level(1).protocol``.
    width_factor : float
        Electrode width relative to the nominal 5.625 degrees (the calibration fits it).
    h : float
        Bulk element size, m (electrodes get h / 4).
    contact_impedance : float or ndarray, shape (32,)
        Ohm m (2D).

    Returns
    -------
    ForwardModel
    """
    return ForwardModel(mesh_from_spec(tank_spec(width_factor, h)), protocol, contact_impedance=contact_impedance)
