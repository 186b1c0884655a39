"""Augmentation with MONAI transforms: reproducible per seed, labels stay labels."""

from __future__ import annotations

import numpy as np
import torch

from livseg.config import AugmentationConfig
from livseg.training.augmentation import Augmenter

NONE = dict(flip_prob=0.0, rotate_prob=0.0, elastic_prob=0.0, shift_prob=0.0, scale_prob=0.0, noise_prob=0.0)


def _pair():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 12, 10, 8)).astype(np.float32)
    label = np.zeros((1, 12, 10, 8), dtype=np.uint8)
    label[0, 3:9, 2:7, 1:5] = 1
    label[0, 5:7, 4:6, 2:4] = 2
    return image, label


def test_disabled_is_the_identity():
    image, label = _pair()
    x, y = Augmenter(AugmentationConfig(enabled=False))(image, label, seed=1)
    assert torch.equal(x, torch.from_numpy(image)) and torch.equal(y, torch.from_numpy(label.astype(np.int64)))


def test_certain_flips_flip_all_three_axes():
    image, label = _pair()
    x, y = Augmenter(AugmentationConfig(**{**NONE, "flip_prob": 1.0}))(image, label, seed=5)
    np.testing.assert_array_equal(x.numpy(), image[:, ::-1, ::-1, ::-1])
    np.testing.assert_array_equal(y.numpy(), label[:, ::-1, ::-1, ::-1])


def test_everything_on_is_reproducible_and_keeps_label_values():
    image, label = _pair()
    augment = Augmenter(AugmentationConfig(flip_prob=0.5, rotate_prob=1.0, rotate_deg=15, scale_fraction=0.1,
                                           elastic_prob=1.0, shift_prob=1.0, scale_prob=1.0, noise_prob=1.0))
    x1, y1 = augment(image, label, seed=11)
    x2, y2 = augment(image, label, seed=11)
    x3, _ = augment(image, label, seed=12)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert x1.shape == (1, 12, 10, 8) and x1.dtype == torch.float32 and y1.dtype == torch.long
    assert set(torch.unique(y1).tolist()) <= {0, 1, 2}
    assert not torch.equal(x1, torch.from_numpy(image))


def test_intensity_transforms_leave_the_label_alone():
    image, label = _pair()
    augment = Augmenter(AugmentationConfig(**{**NONE, "shift_prob": 1.0, "scale_prob": 1.0, "noise_prob": 1.0}))
    x, y = augment(image, label, seed=3)
    assert torch.equal(y, torch.from_numpy(label.astype(np.int64)))
    assert not torch.equal(x, torch.from_numpy(image))
