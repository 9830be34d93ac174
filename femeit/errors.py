"""Exceptions raised by femeit.

Every error a user can provoke with bad input derives from :class:`FemeitError`
(itself a :class:`ValueError`), so callers can catch one type and the message
always names the offending parameter, group or file.
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class FemeitError(ValueError):
    """Base class for errors caused by invalid user input."""


class SpecError(FemeitError):
    """A geometry specification is invalid (bad value, impossible geometry, unknown key)."""


class MeshContractError(FemeitError):
    """A mesh breaks the physical-group contract (``domain``, ``e01``..``eNN``)."""


class MeshingError(FemeitError):
    """gmsh failed to mesh a geometry that passed validation."""


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first caller outside femeit: the user's own line.

    A fixed ``stacklevel`` points into femeit whenever the warning is reached
    through a deeper path (``jacobian`` calls the conditioning check two frames
    further down than ``simulate``), so the warning named a femeit line and
    Python's once-per-location filter merged warnings of different calls.
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
