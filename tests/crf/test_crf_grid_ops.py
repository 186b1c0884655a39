"""Grid building blocks against dense matrices and hand-computed moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from livseg.crf.grid_ops import compensated_sigma, gaussian_blur, gaussian_taps, tent_down, tent_up


def tent_matrix(length: int, r: int) -> torch.Tensor:
    """Dense (nodes x length) splat matrix: node c at voxel c*r, weight max(0, 1 - |i - c r| / r)."""
    nodes = -(-length // r) + 1
    i = torch.arange(length, dtype=torch.float64)
    c = torch.arange(nodes, dtype=torch.float64) * r
    return torch.clamp(1 - (i[None, :] - c[:, None]).abs() / r, min=0)


@pytest.mark.parametrize("shape, axis, r", [((7, 13, 5), 1, 4), ((9, 4, 6), 0, 3), ((5, 6, 23), 2, 7),
                                            ((5, 6, 14), 2, 7), ((3, 2, 9), 2, 9), ((4, 3, 2), 0, 5)])
def test_tent_down_and_up_match_dense_matrices(shape, axis, r):
    torch.manual_seed(0)
    x = torch.rand(shape, dtype=torch.float64)
    matrix = tent_matrix(shape[axis], r)
    expected_down = torch.movedim(torch.tensordot(matrix, torch.movedim(x, axis, 0), dims=1), 0, axis)
    down = tent_down(x, axis, r)
    assert down.shape == expected_down.shape
    torch.testing.assert_close(down, expected_down)

    g = torch.rand(down.shape, dtype=torch.float64)
    expected_up = torch.movedim(torch.tensordot(matrix.t(), torch.movedim(g, axis, 0), dims=1), 0, axis)
    up = tent_up(g, axis, r, shape[axis])
    assert up.shape == x.shape and up.is_contiguous()
    torch.testing.assert_close(up, expected_up)
    # adjoint pair: <up(g), x> == <g, down(x)>
    assert float((up * x).sum()) == pytest.approx(float((g * down).sum()), rel=1e-12)


def test_tent_up_writes_into_given_buffer_and_r1_is_identity():
    g = torch.rand(2, 5, 3)  # ceil(10 / 3) + 1 nodes for 10 voxels
    buffer = torch.empty(2 * 10 * 3)
    out = tent_up(g, 1, 3, 10, out=buffer)
    assert out.data_ptr() == buffer.data_ptr()
    torch.testing.assert_close(out, tent_up(g, 1, 3, 10))
    with pytest.raises(ValueError):
        tent_up(torch.rand(2, 4, 3), 1, 3, 10)
    x = torch.rand(3, 4)
    assert tent_down(x, 0, 1) is x and tent_up(x, 1, 1, 4) is x


def test_interpolation_is_exact_on_linear_data():
    # A linear ramp sampled at the nodes is reproduced exactly at every voxel by tent_up.
    r, length = 5, 23
    nodes = torch.arange(-(-length // r) + 1, dtype=torch.float64) * r * 0.5 + 3.0
    up = tent_up(nodes.view(1, -1, 1), 1, r, length).view(-1)
    torch.testing.assert_close(up, torch.arange(length, dtype=torch.float64) * 0.5 + 3.0)


def test_gaussian_taps_and_blur_against_numpy_convolution():
    taps = gaussian_taps(1.3)
    assert len(taps) == 2 * math.ceil(3 * 1.3) + 1
    assert sum(taps) == pytest.approx(1.0)
    assert taps == taps[::-1]
    assert taps[len(taps) // 2 + 1] / taps[len(taps) // 2] == pytest.approx(math.exp(-0.5 / 1.3**2))
    x = torch.rand(3, 17, 2, dtype=torch.float64)
    blurred = gaussian_blur(x, 1, taps)
    for i in range(3):
        for j in range(2):
            expected = np.convolve(x[i, :, j].numpy(), np.asarray(taps), mode="same")
            np.testing.assert_allclose(blurred[i, :, j].numpy(), expected, rtol=1e-12)


def test_compensated_sigma_restores_the_wanted_variance():
    """Averaged over voxel phases, splat + blur + slice of a delta has variance sigma^2."""
    sigma, r, length = 6.0, 5, 200
    taps = gaussian_taps(compensated_sigma(sigma, r, discrete=True))
    positions = torch.arange(length, dtype=torch.float64)
    variances = []
    for source in range(95, 95 + r):  # one voxel of every phase, far from the ends
        delta = torch.zeros(length, dtype=torch.float64)
        delta[source] = 1.0
        grid = gaussian_blur(tent_down(delta.view(1, -1, 1), 1, r), 1, taps)
        response = tent_up(grid, 1, r, length).view(-1)
        mean = float((response * positions).sum() / response.sum())
        assert mean == pytest.approx(source, abs=1e-9)  # symmetric about the source
        variances.append(float((response * (positions - source) ** 2).sum() / response.sum()))
    assert np.mean(variances) == pytest.approx(sigma**2, rel=0.02)
    # continuous positions (intensities): cell^2 / 3 of added variance
    assert compensated_sigma(1.0, 1.0, discrete=False) == pytest.approx(math.sqrt(2 / 3))
    assert compensated_sigma(0.5, 1.0, discrete=False) == 0.0
