"""Learning-based reconstruction: CNN-EIM and its baselines (optional extra ``femeit[learn]``, PyTorch).

This subpackage imports torch; ``import femeit`` never does.  CPU by default
(the networks are small enough to train on a laptop); no GPU code path is
needed beyond what torch does by itself.
"""

from femeit.learn.features import Normalizer, calibrate, image_target, reim_permutation
from femeit.learn.networks import CNNEIM, FCNNEIV, NETWORKS, build, count_parameters
from femeit.learn.training import Reconstructor, TrainConfig, evaluate, loss_terms, prepare, train

__all__ = [
    "CNNEIM",
    "FCNNEIV",
    "NETWORKS",
    "Normalizer",
    "Reconstructor",
    "TrainConfig",
    "build",
    "calibrate",
    "count_parameters",
    "evaluate",
    "image_target",
    "loss_terms",
    "prepare",
    "reim_permutation",
    "train",
]
