"""Internal padding to a size multiple and the crop back."""

from __future__ import annotations

import torch

from livseg.models.padding import center_crop, crop_spatial, pad_spatial, padding_for


def test_padding_amounts():
    assert padding_for(37, 4) == (1, 2)     # 37 -> 40
    assert padding_for(40, 4) == (0, 0)
    assert padding_for(5, 8, minimum=16) == (5, 6)  # 5 -> 16


def test_pad_then_crop_returns_the_original_voxels():
    x = torch.arange(2 * 3 * 5 * 6 * 7, dtype=torch.float32).reshape(2, 3, 5, 6, 7)
    padded, crop = pad_spatial(x, 4)
    assert padded.shape == (2, 3, 8, 8, 8)
    assert torch.equal(crop_spatial(padded, crop), x)
    assert torch.equal(padded[:, :, 0, 1:7, 0:7], x[:, :, 0, :, :])  # edge replicated before the first slice
    same, crop = pad_spatial(torch.zeros(1, 1, 8, 8, 8), 4)
    assert crop_spatial(same, crop).data_ptr() == same.data_ptr()  # nothing copied when nothing is padded


def test_center_crop():
    y = torch.arange(10.0).view(1, 1, 10, 1, 1)
    assert center_crop(y, (4, 1, 1)).flatten().tolist() == [3.0, 4.0, 5.0, 6.0]
