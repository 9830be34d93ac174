"""Forward models: complete, point and shunt electrode models, fields, Jacobians and matrix-free products.

* :class:`Discretization`: the frozen, shareable part (basis, element matrices,
  electrode blocks, assembly plan);
* :class:`ForwardModel`: a discretisation, a protocol and contact impedances;
  ``simulate``, ``solve``, ``fields``, ``jacobian``, ``jvec`` / ``jtvec``, ``system_matrix``.
"""

from femeit.forward.discretization import AssemblyPlan, Discretization
from femeit.forward.model import Fields, ForwardModel, Solution

__all__ = ["AssemblyPlan", "Discretization", "Fields", "ForwardModel", "Solution"]
