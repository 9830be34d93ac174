"""Batch simulation: phantoms -> conductivity per element -> voltages, EIM and images.

The forward mesh is the sensor's own mesh (it does not follow the phantoms):
each element takes the area- or volume-weighted conductivity of the phantom
(:meth:`femeit.phantom.Phantom.on_mesh`), the model is solved once per sample
(one factorisation, all current patterns), and the image is the phantom on a
pixel grid over the sensor's bounding square (the mid-height slice in 3D).
Every sample is computed alone from (seed, index), so the arrays do not depend
on how samples are grouped into chunks or spread over workers.
"""

from __future__ import annotations

import numpy as np

from femeit.datasets.config import DatasetConfig
from femeit.datasets.sampler import PhantomSampler
from femeit.noise import add_noise


class Simulator:
    """Everything needed to compute samples of one configuration (built once per worker)."""

    def __init__(self, config: DatasetConfig):
        from femeit.forward import ForwardModel
        from femeit.geometry import mesh_from_spec

        self.config = config
        self.sampler = PhantomSampler(config)
        spec = config.spec
        self.mesh = spec.mesh() if getattr(spec, "mesh_is_given", False) else mesh_from_spec(spec)
        rings = [r.n_electrodes for r in getattr(spec, "rings", ())] or None
        self.protocol = config.protocol_object(self.mesh.n_electrodes, rings=rings)
        self.model = ForwardModel(
            self.mesh, self.protocol, config.contact_impedance, order=config.order, exact_readings=config.exact_readings
        )
        self.region = self.sampler.region
        self.extent = self.region.extent
        self.has_eim = config.protocol == "adjacent"
        self.n_max = (config.phantom.counts and max(config.phantom.counts)) or config.phantom.n_objects[1]
        self.reference = self.model.simulate(config.phantom.background)
        self.noise_std = None
        if config.noise_relative is not None:
            # [noise] relative / floor: NoiseModel.from_reference on the homogeneous reference, as for a measured one.
            from femeit.noise_model import NoiseModel

            model = NoiseModel.from_reference(self.reference, relative=config.noise_relative, floor=config.noise_floor)
            self.noise_std = model.std(self.reference)

    def image_mask(self) -> np.ndarray:
        """Pixels whose centre lies inside the sensor, shape ``image_shape``."""
        rows, cols = self.config.image_shape
        xmin, xmax, ymin, ymax = self.extent
        y = ymax - (np.arange(rows) + 0.5) * (ymax - ymin) / rows
        x = xmin + (np.arange(cols) + 0.5) * (xmax - xmin) / cols
        if self.region.outline is None:  # the disk, exactly as before
            return (x[None, :] ** 2 + y[:, None] ** 2) <= self.config.spec.radius**2
        xx, yy = np.meshgrid(x, y)
        return self.region.inside(np.stack([xx.ravel(), yy.ravel()], axis=1)).reshape(rows, cols)

    def compute(self, index: int) -> dict[str, np.ndarray]:
        """All arrays of sample ``index`` (see :data:`femeit.datasets.store.ARRAYS`)."""
        cfg = self.config
        sample = self.sampler.sample(index)
        phantom = self.sampler.phantom(sample)
        sigma = phantom.on_mesh(self.mesh, level=cfg.fraction_level)
        clean = self.model.simulate(sigma)
        out = {"voltages_clean": clean, "voltages": clean}
        if cfg.snr_db is not None:
            out["voltages"] = add_noise(clean, snr_db=cfg.snr_db, seed=sample.noise_seed)
        elif cfg.noise_relative is not None:
            rng = np.random.default_rng(sample.noise_seed)
            out["voltages"] = clean + self.noise_std * rng.standard_normal(clean.shape)
        if self.has_eim:
            out["eim"] = self.protocol.to_eim(out["voltages"])
        out["images"] = phantom.image(self.extent, cfg.image_shape, z=cfg.image_z).astype(np.float32)
        if cfg.image_depth:
            # Voxel volume: the phantom at the centres of depth equal layers of the tank.
            height = self.config.spec.height
            layers = [
                phantom.image(self.extent, cfg.image_shape, z=(k + 0.5) * height / cfg.image_depth)
                for k in range(cfg.image_depth)
            ]
            out["volumes"] = np.stack(layers).astype(np.float32)
        out["sigma"] = sigma.astype(np.float32)
        objects = np.full((self.n_max, self.mesh.dim + 2), np.nan)
        objects[: len(sample.objects)] = sample.objects
        out["objects"] = objects
        out["n_objects"] = np.int8(len(sample.objects))
        out["split"] = np.int8(sample.split)
        return out

    def compute_range(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Samples ``start .. stop - 1`` stacked along a first axis."""
        samples = [self.compute(i) for i in range(start, stop)]
        return {key: np.stack([s[key] for s in samples]) for key in samples[0]}
