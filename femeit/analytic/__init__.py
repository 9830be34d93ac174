"""Analytic and semi-analytic reference solutions used to prove femeit's accuracy."""

from femeit.analytic.ball import ball_point_potentials, layered_ball_point_potentials
from femeit.analytic.disk import disk_cem_potentials
from femeit.analytic.halfspace import halfspace_point_potentials, halfspace_sensitivity
from femeit.analytic.patterns import protocol_voltages
from femeit.analytic.sphere import halfspace_sphere_anomaly

__all__ = [
    "ball_point_potentials",
    "disk_cem_potentials",
    "halfspace_point_potentials",
    "halfspace_sensitivity",
    "halfspace_sphere_anomaly",
    "layered_ball_point_potentials",
    "protocol_voltages",
]
