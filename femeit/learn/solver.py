"""Trained networks (``femeit learn train``) behind the solver contract.

Imported only when a learned solver is built (the registry holds its path as a
string), so ``import femeit`` never imports PyTorch.
"""

from __future__ import annotations

import time
from types import MappingProxyType

import numpy as np

from femeit.errors import FemeitError
from femeit.inverse.base import Reconstruction


class LearnedSolver:
    """A trained network as a registry solver: ``solver(dv) -> Reconstruction``.

    Parameters
    ----------
    jacobian : ignored
        Networks do not use a Jacobian (accepted for the common signature; may be None).
    network : str
        The registry name ("cnn-eim", "cnn-reim", "fcnn-eiv"); must match the run's network.
    model : str or Path
        Run directory written by ``femeit learn train``.
    protocol : Protocol
        The readings' protocol (adjacent, as in training).
    reference : ndarray, shape (n_rows,)
        Reference readings: the network sees ``reference + dv``.
    """

    units = "conductivity, S/m (absolute image on the network's 64 x 64 pixels)"

    def __init__(self, jacobian=None, *, network: str, model=None, protocol=None, reference=None, **params):
        if params:
            raise FemeitError(
                f"{', '.join(sorted(params))}: no meaning for the learned solver {network!r} "
                "(it takes model, protocol, reference)"
            )
        if model is None:
            raise FemeitError(f"solver {network} needs model=RUN (a directory written by `femeit learn train`)")
        if protocol is None or reference is None:
            raise FemeitError(f"solver {network} needs the protocol and the reference readings")
        from femeit.learn import Reconstructor
        self.rec = Reconstructor(model)
        if network != self.rec.meta["network"]:
            raise FemeitError(f"model {model} holds a {self.rec.meta['network']} network, not {network}")
        self.name = network
        self.protocol = protocol
        self.reference = np.asarray(reference, dtype=float)

    def __call__(self, dv: np.ndarray) -> Reconstruction:
        """The network's image of the frame ``reference + dv``; ``x`` is the flattened image."""
        start = time.perf_counter()
        dv = np.asarray(dv, dtype=float)
        if dv.shape != self.reference.shape or not np.all(np.isfinite(dv)):
            raise FemeitError(f"a frame must hold {len(self.reference)} finite readings, got shape {dv.shape}")
        image = self.rec(self.reference + dv, self.reference, self.protocol)
        return Reconstruction(
            x=image.ravel(),
            units=self.units,
            solver=self.name,
            params=MappingProxyType({"network": self.name, "shape": image.shape}),
            rows=np.arange(len(dv)),
            seconds=time.perf_counter() - start,
        )
