"""Forward models: complete, point and shunt electrode models, fields and Jacobians."""

from femeit.forward.model import ForwardModel, Solution

__all__ = ["ForwardModel", "Solution"]
