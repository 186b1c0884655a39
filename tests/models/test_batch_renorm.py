"""Batch renormalisation against its defining formulas and against torch's batch norm."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from livseg.models.batch_renorm import BatchRenorm


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axes = (0, 2, 3, 4)
    return x.mean(axis=axes), np.sqrt(x.var(axis=axes) + 1e-5)


def test_eval_uses_running_statistics():
    layer = BatchRenorm(2).eval()
    with torch.no_grad():
        layer.running_mean.copy_(torch.tensor([1.0, -2.0]))
        layer.running_std.copy_(torch.tensor([2.0, 0.5]))
        layer.weight.copy_(torch.tensor([3.0, 1.0]))
        layer.bias.copy_(torch.tensor([0.5, 0.0]))
    x = torch.tensor([5.0, -1.0]).view(1, 2, 1, 1, 1)
    # channel 0: 3 * (5 - 1) / 2 + 0.5 = 6.5; channel 1: (-1 + 2) / 0.5 = 2
    assert torch.allclose(layer(x).flatten(), torch.tensor([6.5, 2.0]))


def test_warmup_is_plain_batch_norm():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 6, 7) * 3 + 1
    layer = BatchRenorm(4, warmup_steps=1).train()
    expected = F.batch_norm(x, None, None, training=True, eps=1e-5)
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_training_output_and_running_updates_by_hand():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 4.0, size=(2, 2, 3, 3, 3)).astype(np.float32)
    layer = BatchRenorm(2, r_max=3.0, d_max=0.25, momentum=0.1).train()
    with torch.no_grad():
        layer.running_mean.copy_(torch.tensor([0.0, 1.0]))
        layer.running_std.copy_(torch.tensor([1.0, 20.0]))
    y = layer(torch.from_numpy(x)).detach().numpy()
    mean, std = _stats(x)
    run_mean, run_std = np.array([0.0, 1.0]), np.array([1.0, 20.0])
    r = np.clip(std / run_std, 1 / 3, 3.0)
    d = np.clip((mean - run_mean) / run_std, -0.25, 0.25)
    assert r[0] == 3.0 and r[1] < 1.0 and d[0] == 0.25  # both clips are exercised
    shape = (1, 2, 1, 1, 1)
    expected = (x - mean.reshape(shape)) / std.reshape(shape) * r.reshape(shape) + d.reshape(shape)
    assert np.allclose(y, expected, atol=1e-4)
    assert np.allclose(layer.running_mean.numpy(), run_mean + 0.1 * (mean - run_mean), atol=1e-5)
    assert np.allclose(layer.running_std.numpy(), run_std + 0.1 * (std - run_std), atol=1e-4)
    assert int(layer.num_batches_tracked) == 1


def test_gradients_flow_through_batch_statistics_not_r_and_d():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 4, 4, 4, requires_grad=True)
    layer = BatchRenorm(3, warmup_steps=1).train()
    reference = x.detach().clone().requires_grad_(True)
    layer(x).pow(2).sum().backward()
    F.batch_norm(reference, None, None, training=True, eps=1e-5).pow(2).sum().backward()
    assert torch.allclose(x.grad, reference.grad, atol=1e-4)
