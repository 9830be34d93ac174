"""Exceptions raised by femeit.

Every error a user can provoke with bad input derives from :class:`FemeitError`
(itself a :class:`ValueError`), so callers can catch one type and the message
always names the offending parameter, group or file.
"""

from __future__ import annotations


class FemeitError(ValueError):
    """Base class for errors caused by invalid user input."""


class SpecError(FemeitError):
    """A geometry specification is invalid (bad value, impossible geometry, unknown key)."""


class MeshContractError(FemeitError):
    """A mesh breaks the physical-group contract (``domain``, ``e01``..``eNN``)."""


class MeshingError(FemeitError):
    """gmsh failed to mesh a geometry that passed validation."""
