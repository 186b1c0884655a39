"""Random augmentation of training patches with MONAI dictionary transforms.

Flips, a random affine (small rotations and scaling), elastic deformation, intensity shift,
intensity scaling and Gaussian noise. Each patch gets its own seed from the epoch plan, so
augmentation is reproducible across resumptions and processes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.transforms import (
    Compose,
    Rand3DElasticd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

from livseg.config import AugmentationConfig


class Augmenter:
    """Applies the configured random transforms to an (image, target) patch pair.

    Call with image (1, D, H, W) float32 and target (1, D, H, W) integer arrays (z, y, x
    spatial order) and a seed; returns two torch tensors of the same shapes (target keeps
    its integer values: nearest-neighbour interpolation) on ``device``.

    With a CUDA ``device`` the patches move there first and the resampling transforms (affine,
    elastic) run on the GPU: on a GPU machine they would otherwise dominate a training step.
    The random draws come from the same seeded NumPy state on every device.
    """

    def __init__(self, config: AugmentationConfig, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        keys = ["image", "label"]
        modes = ("bilinear", "nearest")
        transforms: list = [RandFlipd(keys=keys, prob=config.flip_prob, spatial_axis=axis) for axis in range(3)]
        if config.rotate_prob > 0 and (config.rotate_deg > 0 or config.scale_fraction > 0):
            angle = math.radians(config.rotate_deg)
            transforms.append(RandAffined(keys=keys, prob=config.rotate_prob, rotate_range=(angle,) * 3,
                                          scale_range=(config.scale_fraction,) * 3, mode=modes,
                                          padding_mode="border", device=self.device))
        if config.elastic_prob > 0:
            transforms.append(Rand3DElasticd(keys=keys, prob=config.elastic_prob,
                                             sigma_range=tuple(config.elastic_sigma_voxels),
                                             magnitude_range=tuple(config.elastic_magnitude_voxels),
                                             mode=modes, padding_mode="border", device=self.device))
        if config.shift_prob > 0:
            transforms.append(RandShiftIntensityd(keys="image", offsets=config.shift, prob=config.shift_prob))
        if config.scale_prob > 0:
            transforms.append(RandScaleIntensityd(keys="image", factors=config.scale, prob=config.scale_prob))
        if config.noise_prob > 0:
            transforms.append(RandGaussianNoised(keys="image", prob=config.noise_prob, std=config.noise_std))
        self.transform = Compose(transforms) if config.enabled else None

    def __call__(self, image: np.ndarray, target: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_t = torch.as_tensor(image, dtype=torch.float32).to(self.device)
        target_t = torch.as_tensor(target.astype(np.float32)).to(self.device)
        if self.transform is not None:
            self.transform.set_random_state(seed=seed)
            out = self.transform({"image": image_t, "label": target_t})
            image_t, target_t = out["image"], out["label"]
        image_t = torch.as_tensor(image_t).as_subclass(torch.Tensor).to(torch.float32).contiguous()
        target_t = torch.as_tensor(target_t).as_subclass(torch.Tensor).round().to(torch.long).contiguous()
        return image_t, target_t
