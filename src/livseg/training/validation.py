"""Validation on held-out cases at the training spacing: loss of the main output and Dice.

Each case is predicted whole (one forward pass) or with MONAI's sliding-window inference
(Gaussian blending), on the prepared grid the network trains on. Dice per foreground class is
``2 TP / (2 TP + FP + FN)`` over the case (1 when reference and prediction are both empty);
the reported Dice is the mean over cases of the mean over foreground classes.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference

from livseg.config import Config
from livseg.errors import ConfigError, LivsegError
from livseg.training.patches import TrainingCase

CLASS_NAMES = {"liver": ("liver",), "tumour": ("tumour",), "liver_tumour": ("liver", "tumour")}


def dice_counts(prediction: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes - 1, 3) float64 counts (TP, FP, FN) per foreground class.

    Args:
        prediction, target: integer class maps of the same shape (any axes).
    """
    rows = []
    for cls in range(1, num_classes):
        pred, ref = prediction == cls, target == cls
        rows.append([(pred & ref).sum().item(), (pred & ~ref).sum().item(), (~pred & ref).sum().item()])
    return torch.tensor(rows, dtype=torch.float64)


def dice_from_counts(counts: torch.Tensor) -> list[float]:
    """Dice per row of (TP, FP, FN) counts; 1.0 where all three are 0."""
    out = []
    for tp, fp, fn in counts.tolist():
        denominator = 2 * tp + fp + fn
        out.append(1.0 if denominator == 0 else 2 * tp / denominator)
    return out


def _valid_output_size(size: int, input_size_for: Callable[[int], int]) -> tuple[int, int]:
    """The smallest workable output size >= ``size`` and the input size it needs."""
    for output in range(size, size + 64):
        try:
            return output, int(input_size_for(output))
        except LivsegError:
            continue
    raise ConfigError("validation.mode", expected=f"a network output size near {size} voxels",
                      found="none the network accepts", fix="use a network with 'same' convolutions")


def predict_logits(forward: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray, config: Config,
                   device: torch.device, pad_value: float, autocast: Callable,
                   input_size_for: Callable[[int], int] | None = None) -> torch.Tensor:
    """Main-output logits (1, C, D, H, W) on the CPU for one prepared image (z, y, x).

    With ``training.context_voxels`` > 0 (valid convolutions) the image is padded with
    ``pad_value`` so that the output covers it: ``context`` voxels before each axis, and after
    it whatever the network's ``input_size_for`` needs; the output is cut back to the image.
    """
    context = config.training.context_voxels
    x = torch.from_numpy(np.ascontiguousarray(image))[None, None].to(device)
    if config.validation.mode == "whole":
        if context:
            pads = []
            for size in image.shape:
                _output, needed = (_valid_output_size(size, input_size_for) if input_size_for
                                   else (size, size + 2 * context))
                pads.append((context, needed - size - context))
            x = F.pad(x, [p for pair in reversed(pads) for p in pair], mode="constant", value=pad_value)
        with torch.no_grad(), autocast():
            logits = forward(x)
        if logits.shape[2:] != image.shape:
            logits = logits[(..., *[slice(0, n) for n in image.shape])]
        return logits.float().cpu()
    window = config.validation.window_voxels_xyz or tuple(
        s + 2 * context for s in config.training.patch_voxels_xyz)
    roi_zyx = tuple(int(s) for s in window[::-1])
    with torch.no_grad(), autocast():
        logits = sliding_window_inference(x, roi_size=roi_zyx, sw_batch_size=1, predictor=forward,
                                          overlap=config.validation.overlap, mode="gaussian",
                                          padding_mode="constant", cval=pad_value, device=torch.device("cpu"))
    return torch.as_tensor(logits).as_subclass(torch.Tensor).float()


def validate(forward: Callable[[torch.Tensor], torch.Tensor], cases: Sequence[TrainingCase], config: Config,
             device: torch.device, loss_main: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
             autocast: Callable, input_size_for: Callable[[int], int] | None = None) -> dict[str, float]:
    """Loss and Dice over ``cases``.

    Args:
        forward: maps (1, C_in, D, H, W) to main-output logits (1, C, D', H', W').
        cases: held-out cases (prepared arrays).
        loss_main: the base loss applied to (logits, target) on the whole case.
        autocast: a context-manager factory for mixed precision (or a null context).
        input_size_for: the network's input size for an output size (valid convolutions).

    Returns:
        {"val_loss", "val_dice", "val_dice_<class>"...}.
    """
    num_classes = config.num_classes
    names = CLASS_NAMES[config.data.task]
    losses, per_case = [], []
    for case in cases:
        logits = predict_logits(forward, case.image, config, device, case.pad_value, autocast, input_size_for)
        target = torch.from_numpy(case.target.astype(np.int64))[None]
        with torch.no_grad():
            losses.append(float(loss_main(logits, target)))
        counts = dice_counts(logits.argmax(dim=1), target, num_classes)
        per_case.append(dice_from_counts(counts))
    scores = np.asarray(per_case, dtype=float)  # (cases, classes)
    result = {"val_loss": float(np.mean(losses)), "val_dice": float(scores.mean())}
    if len(names) > 1:
        for index, name in enumerate(names):
            result[f"val_dice_{name}"] = float(scores[:, index].mean())
    return result
