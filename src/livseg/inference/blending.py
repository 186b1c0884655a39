"""Gaussian-blended sliding windows over one volume, the arithmetic of MONAI's
``sliding_window_inference`` (mode "gaussian", ``sw_batch_size`` 1, windows within the volume).

Why written here instead of calling MONAI: importing ``monai.inferers`` loads most of MONAI
(transforms, data, apps) and costs 2-3 s of every ``livseg predict`` process's start-up on a
2-core CPU, against a 5 s target for the whole command (issue #16), while the part the
predict path uses is the loop below. It keeps MONAI's arithmetic exactly: the same window
starts (``window_starts``), the same importance map (a separable Gaussian with sigma =
``sigma_scale`` x window, clamped below at max(its minimum, 1e-3)), each window's output
multiplied by the map and added in the same order into float32 buffers, the summed maps
divided out at the end, so the result is MONAI's to the bit (``tests/inference/test_blending.py``
checks it against ``monai.inferers.sliding_window_inference``). Training's validation, which
may need padding, still calls MONAI.
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import torch

from livseg.errors import ConfigError


def window_starts(size: int, window: int, overlap: float) -> list[int]:
    """Start indices of the windows along one axis, as MONAI's inferer places them.

    The step is ``int(window * (1 - overlap))`` (at least 1; the whole axis when the window
    equals it); windows advance by the step until one reaches the end, and the last one is
    moved back to end exactly at ``size``. A window longer than the axis gives one start, 0.
    """
    if window >= size:
        return [0]
    step = max(1, int(window * (1 - overlap)))
    starts = []
    index = 0
    while True:
        start = index * step
        if start + window >= size:
            starts.append(size - window)
            break
        starts.append(start)
        index += 1
    return starts


def gaussian_importance(window_zyx: Sequence[int], sigma_scale: float, *, device: torch.device | str = "cpu"
                        ) -> torch.Tensor:
    """The blending weight of each voxel of a window: float32 (z, y, x), 1 at the centre.

    A product of 1D Gaussians exp(-x^2 / (2 sigma^2)) with x measured from the window's centre
    in voxels and sigma = ``sigma_scale`` x the window's size on that axis, clamped below at
    max(its minimum, 1e-3) (MONAI's ``compute_importance_map``).
    """
    weights: torch.Tensor | None = None
    for axis, size in enumerate(int(s) for s in window_zyx):
        sigma = size * float(sigma_scale)
        x = torch.arange(start=-(size - 1) / 2.0, end=(size - 1) / 2.0 + 1, dtype=torch.float, device=device)
        x = torch.exp(x ** 2 / (-2 * sigma ** 2))
        weights = x if weights is None else weights.unsqueeze(-1) * x[(None,) * axis]
    assert weights is not None  # three axes
    floor = max(torch.min(weights).item(), 1e-3)
    return torch.clamp_(weights.to(torch.float), min=floor)


def blend_windows(predictor: Callable[[torch.Tensor], torch.Tensor | Sequence[torch.Tensor]], image: torch.Tensor, *,
                  window_zyx: Sequence[int], overlap: float, sigma_scale: float,
                  device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Every window's output, Gaussian-weighted and averaged where windows overlap.

    Args:
        predictor: maps a window (1, C_in, d, h, w) on ``device`` to one tensor or a tuple of
            tensors (1, C, d, h, w) (float32).
        image: float32 (1, C_in, Z, Y, X) on the CPU.
        window_zyx: the window, at most the image's size on each axis.
        overlap: fraction of a window shared with its neighbours, in [0, 1).
        sigma_scale: the Gaussian's sigma as a fraction of the window.
        device: where the predictor runs; the blended result is on the CPU.

    Returns:
        One float32 (1, C, Z, Y, X) tensor per predictor output, on the CPU.
    """
    shape = tuple(int(s) for s in image.shape[2:])
    window = tuple(int(w) for w in window_zyx)
    if len(window) != 3 or any(w > s or w < 1 for w, s in zip(window, shape)):
        raise ConfigError("sliding window", expected=f"a window within the volume {shape}", found=str(window))
    weights = gaussian_importance(window, sigma_scale, device=device)[None, None]
    on_cpu = weights.to("cpu")
    starts = list(itertools.product(*(window_starts(s, w, overlap) for s, w in zip(shape, window))))
    sums: list[torch.Tensor] = []
    counts = torch.zeros((1, 1, *shape), dtype=torch.float32)
    for z, y, x in starts:
        counts[:, :, z:z + window[0], y:y + window[1], x:x + window[2]] += on_cpu
    for z, y, x in starts:
        box = (slice(None), slice(None), slice(z, z + window[0]), slice(y, y + window[1]), slice(x, x + window[2]))
        result = predictor(image[box].to(device))
        outputs = [result] if isinstance(result, torch.Tensor) else list(result)
        if not sums:
            sums = [torch.zeros((1, int(out.shape[1]), *shape), dtype=torch.float32) for out in outputs]
        for total, out in zip(sums, outputs):
            total[box] += (out * weights).to("cpu")
    for total in sums:
        total /= counts
    return sums
