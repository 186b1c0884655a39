"""Validation: whole-volume and sliding-window logits, valid-convolution padding, Dice."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from livseg.config import Config, PhantomData, DataConfig, TrainingConfig, ValidationConfig
from livseg.errors import ConfigError
from livseg.training.patches import TrainingCase
from livseg.training.validation import dice_counts, dice_from_counts, predict_logits, validate
from livseg.volume import Geometry


def _sign_net(x: torch.Tensor) -> torch.Tensor:
    """A point-wise 'network': logits (-x, x), so class 1 wherever x > 0."""
    return torch.cat([-x, x], dim=1)


def _config(mode: str, context: int = 0, patch=(8, 6, 4), window=None) -> Config:
    return Config(data=DataConfig(phantoms=PhantomData(n=1)),
                  training=TrainingConfig(patch_voxels_xyz=patch, context_voxels=context),
                  validation=ValidationConfig(mode=mode, window_voxels_xyz=window, overlap=0.5))


def _image(shape=(9, 11, 13)) -> np.ndarray:
    return np.random.default_rng(0).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("mode", ["whole", "sliding"])
def test_logits_are_stitched_exactly(mode):
    image = _image()
    logits = predict_logits(_sign_net, image, _config(mode), torch.device("cpu"), 0.0, contextlib.nullcontext)
    assert logits.shape == (1, 2, 9, 11, 13)
    # Gaussian blending averages identical values: any stitching error shows.
    np.testing.assert_allclose(logits[0, 1].numpy(), image, atol=1e-5)


def test_valid_convolution_context_is_padded_and_cut_back():
    image = _image()

    def valid_net(x: torch.Tensor) -> torch.Tensor:  # loses 1 voxel per side, needs even outputs
        assert all(n % 2 == 0 for n in x.shape[2:]), "input_size_for was not honoured"
        return _sign_net(x[..., 1:-1, 1:-1, 1:-1])

    def input_size_for(output: int) -> int:
        if output % 2:
            raise ConfigError("test net", expected="even outputs", found=str(output))
        return output + 2

    logits = predict_logits(valid_net, image, _config("whole", context=1), torch.device("cpu"), -5.0,
                            contextlib.nullcontext, input_size_for)
    np.testing.assert_allclose(logits[0, 1].numpy(), image, atol=0)


def test_dice_counts_by_hand():
    prediction = torch.tensor([0, 1, 1, 2, 2, 0])
    target = torch.tensor([0, 1, 0, 2, 1, 1])
    counts = dice_counts(prediction, target, num_classes=3)
    assert counts.tolist() == [[1, 1, 2], [1, 1, 0]]  # class 1: TP FP FN; class 2: TP FP FN
    assert dice_from_counts(counts) == pytest.approx([2 / 5, 2 / 3])
    assert dice_from_counts(torch.zeros(1, 3)) == [1.0]  # both empty


def test_validate_reports_dice_and_loss():
    image = np.full((4, 4, 4), -1.0, dtype=np.float32)
    image[:2] = 1.0                       # predicted liver: z 0..1 (32 voxels)
    target = np.zeros((4, 4, 4), dtype=np.uint8)
    target[1:3] = 1                       # reference liver: z 1..2 (32 voxels), overlap 16
    case = TrainingCase("c", image, target, np.argwhere(target).astype(np.int32), -1.0,
                        Geometry(size=(4, 4, 4), spacing_mm=(1.0, 1.0, 1.0)))
    loss = torch.nn.CrossEntropyLoss()
    result = validate(_sign_net, [case, case], _config("whole"), torch.device("cpu"), loss, contextlib.nullcontext)
    assert result["val_dice"] == pytest.approx(2 * 16 / 64)
    expected_loss = float(loss(_sign_net(torch.from_numpy(image)[None, None]), torch.from_numpy(target.astype(np.int64))[None]))
    assert result["val_loss"] == pytest.approx(expected_loss)
