"""The grid filters against brute-force Gaussian sums over all voxel pairs (float64 oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livseg.crf import filters
from livseg.crf import threads as crf_threads
from livseg.crf.filters import BilateralGridFilter, SpatialGaussianFilter

SPACING_ZYX = (2.0, 0.8, 0.7)  # mm, anisotropic


def positions_mm(shape):
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) * s for n, s in zip(shape, SPACING_ZYX)],
                           indexing="ij")
    return torch.stack(grids, -1).reshape(-1, 3)


def smooth_image(shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(shape, generator=generator, dtype=torch.float64) * 240 - 60
    return torch.nn.functional.avg_pool3d(image[None, None], 3, 1, 1, count_include_pad=False)[0, 0]


def brute_force(shape, theta_mm, image=None, theta_hu=None, slices_independent=False):
    """Dense kernel matrix k(i, j) of eq. 5's Gaussians, self term included."""
    p = positions_mm(shape)
    exponent = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1) / (2 * theta_mm**2)
    if image is not None:
        intensity = image.reshape(-1)
        exponent = exponent + (intensity[:, None] - intensity[None, :]) ** 2 / (2 * theta_hu**2)
    kernel = torch.exp(-exponent)
    if slices_independent:
        z = p[:, 0]
        kernel = kernel * (z[:, None] == z[None, :])
    return kernel


def relative_errors(approx: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """Per-voxel relative error after the best global scale (the CRF normalises the scale away)."""
    approx = approx.double()
    scale = (approx @ exact) / (approx @ approx)
    return (scale * approx - exact).abs() / exact


def test_spatial_filter_matches_brute_force_gaussian():
    shape, theta = (8, 22, 26), 3.0
    values = torch.rand(int(np.prod(shape)), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = brute_force(shape, theta) @ values
    spatial = SpatialGaussianFilter(shape, [theta / s for s in SPACING_ZYX])
    errors = relative_errors(spatial.apply(values.float()), exact)
    assert float(errors.mean()) < 0.01
    assert float(errors.max()) < 0.04


def test_bilateral_filter_matches_brute_force_gaussian(cpu_path):
    shape, theta, theta_hu = (8, 22, 26), 6.0, 20.0
    image = smooth_image(shape)
    values = torch.rand(int(np.prod(shape)), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = brute_force(shape, theta, image, theta_hu) @ values
    bilateral = BilateralGridFilter(image.float(), [theta / s for s in SPACING_ZYX], theta_hu)
    errors = relative_errors(bilateral.apply(values.float()), exact)
    assert float(errors.mean()) < 0.05
    assert float(errors.max()) < 0.3


def test_bilateral_filter_is_symmetric_on_both_slicing_paths(torch_path):
    """<u, K v> == <K u, v>: what the symmetric normalisation of the CRF relies on."""
    shape = (6, 30, 34)
    image = smooth_image(shape, seed=3).float()
    bilateral = BilateralGridFilter(image, [10.0 / s for s in SPACING_ZYX], 15.0)
    generator = torch.Generator().manual_seed(4)
    u, v = torch.rand(2, int(np.prod(shape)), generator=generator)
    Kv = bilateral.apply(v).double().clone()
    Ku = bilateral.apply(u).double().clone()
    assert float(u.double() @ Kv) == pytest.approx(float(Ku @ v.double()), rel=1e-5)
    # the gather path used on devices without sparse CSR gives the same slice
    refined = torch.rand(bilateral._refined.numel(), generator=generator)
    bilateral._slice(refined, 0, shape[0])
    via_csr = bilateral._out.clone()
    gathered = (refined.index_select(0, bilateral._index).view(-1, 4) * bilateral._weights).sum(1)
    torch.testing.assert_close(via_csr, gathered, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_slabs_and_threads_give_the_same_filter(monkeypatch, threads, torch_path):
    """Slab-wise (CPU) and thread-split scatter are bookkeeping only: same result as one pass."""
    shape = (9, 26, 30)
    image = smooth_image(shape, seed=7).float()
    values = torch.rand(int(np.prod(shape)), generator=torch.Generator().manual_seed(8))
    sigmas = [8.0 / s for s in SPACING_ZYX]
    whole = BilateralGridFilter(image, sigmas, 15.0)
    assert len(whole._slabs) == 1
    expected = whole.apply(values).clone()
    monkeypatch.setattr(filters, "SLAB_VOXELS", 2 * 26 * 30)  # slabs of 2 slices (the last has 1)
    monkeypatch.setattr(crf_threads, "PARALLEL_SPLAT_MIN_VOXELS", 1)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        sliced = BilateralGridFilter(image, sigmas, 15.0)
        assert len(sliced._slabs) == 5
        assert len(sliced._row_chunks(2)) == threads
        torch.testing.assert_close(sliced.apply(values), expected, rtol=1e-5, atol=1e-5)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("slab_voxels", [None, 2 * 26 * 30])
def test_apply_beside_shares_the_scatter_and_gives_the_same_filter(monkeypatch, slab_voxels, torch_path):
    """A second thread scattering half of the rows (and running other work meanwhile) is
    bookkeeping only: bit-identical to apply, and the side work's result comes back."""
    shape = (9, 26, 30)
    image = smooth_image(shape, seed=9).float()
    values = torch.rand(int(np.prod(shape)), generator=torch.Generator().manual_seed(10))
    sigmas = [8.0 / s for s in SPACING_ZYX]
    monkeypatch.setattr(crf_threads, "PARALLEL_SPLAT_MIN_VOXELS", 1)
    if slab_voxels is not None:
        monkeypatch.setattr(filters, "SLAB_VOXELS", slab_voxels)
    bilateral = BilateralGridFilter(image, sigmas, 15.0)
    assert len(bilateral._slabs) == (1 if slab_voxels is None else 5)
    norm_alone = bilateral.normalise_symmetric().clone()
    expected = bilateral.apply(values).clone()
    shared = BilateralGridFilter(image, sigmas, 15.0)
    side = crf_threads.side_pool()
    torch.testing.assert_close(shared.normalise_symmetric(side), norm_alone, rtol=0, atol=0)
    into = torch.ones_like(values)
    result, extra = shared.apply_beside(values, side, lambda: "side work done", into=into, alpha=0.5)
    assert result is into and extra == "side work done"
    torch.testing.assert_close(into, 1 + 0.5 * expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(shared.apply_beside(values, side, lambda: None)[0], expected, rtol=0, atol=0)


def test_a_failing_side_job_raises_and_leaves_the_side_thread_usable(monkeypatch, torch_path):
    shape = (1, 40, 44)
    image = smooth_image((3, 40, 44), seed=11)[:1].float()
    values = torch.rand(int(np.prod(shape)), generator=torch.Generator().manual_seed(12))
    monkeypatch.setattr(crf_threads, "PARALLEL_SPLAT_MIN_VOXELS", 1)
    bilateral = BilateralGridFilter(image, [0.0, 6.0, 6.0], 15.0)
    side = crf_threads.side_pool()

    def fail():
        raise RuntimeError("side work failed")

    with pytest.raises(RuntimeError, match="side work failed"):
        bilateral.apply_beside(values, side, fail)
    assert side.submit(lambda: 42).result(timeout=10) == 42
    expected = bilateral.apply(values).clone()
    torch.testing.assert_close(bilateral.apply_beside(values, side, lambda: None)[0], expected, rtol=0, atol=0)


def test_uncoupled_axis_keeps_slices_independent(cpu_path):
    """sigma_z = 0 (2D mode): each transverse slice is filtered on its own, exactly."""
    shape, theta, theta_hu = (3, 20, 24), 5.0, 20.0
    image = smooth_image(shape, seed=5)
    values = torch.zeros(shape, dtype=torch.float64)
    values[1] = torch.rand(shape[1:], dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    sigmas = [0.0, theta / SPACING_ZYX[1], theta / SPACING_ZYX[2]]
    for filter_ in (BilateralGridFilter(image.float(), sigmas, theta_hu), SpatialGaussianFilter(shape, sigmas)):
        out = filter_.apply(values.reshape(-1).float()).view(shape)
        assert float(out[0].abs().max()) == 0.0 and float(out[2].abs().max()) == 0.0
        assert float(out[1].min()) > 0.0
    exact = brute_force(shape, theta, image, theta_hu, slices_independent=True) @ values.reshape(-1)
    bilateral = BilateralGridFilter(image.float(), sigmas, theta_hu)
    errors = relative_errors(bilateral.apply(values.reshape(-1).float()), exact).view(shape)[1]
    assert float(errors.mean()) < 0.05


def test_matmul_y_tents_equal_the_strided_ones(monkeypatch, torch_path):
    """The bilateral grid's y passes as batched matrix products (CPU) equal grid_ops' tents."""
    shape = (5, 37, 29)  # 37 rows: not a whole number of y cells
    image = smooth_image(shape, seed=9).float()
    values = torch.rand(int(np.prod(shape)), generator=torch.Generator().manual_seed(10))
    sigmas = [7.0 / s for s in SPACING_ZYX]
    by_matmul = BilateralGridFilter(image, sigmas, 15.0)
    assert by_matmul._y_by_matmul and by_matmul._cells_zy[1] > 1 and shape[1] % by_matmul._cells_zy[1]
    monkeypatch.setattr(filters, "Y_BY_MATMUL", False)
    strided = BilateralGridFilter(image, sigmas, 15.0)
    assert not strided._y_by_matmul
    torch.testing.assert_close(by_matmul.apply(values), strided.apply(values), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(by_matmul.normalise_symmetric(), strided.normalise_symmetric(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(by_matmul.apply(values), strided.apply(values), rtol=1e-5, atol=1e-5)


def test_int64_scatter_equals_int32_index_add(monkeypatch, torch_path):
    shape = (4, 21, 33)
    image = smooth_image(shape, seed=11).float()
    values = torch.rand(int(np.prod(shape)), generator=torch.Generator().manual_seed(12))
    sigmas = [6.0 / s for s in SPACING_ZYX]
    scattered = BilateralGridFilter(image, sigmas, 20.0)
    assert scattered._scatter_index is not None and scattered._scatter_index.dtype == torch.int64
    monkeypatch.setattr(filters, "SCATTER_INT64_MAX_VOXELS", 0)
    index_added = BilateralGridFilter(image, sigmas, 20.0)
    assert index_added._scatter_index is None
    torch.testing.assert_close(scattered.apply(values), index_added.apply(values), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sigmas", [(1.3, 3.75, 3.75), (0.0, 4.1, 4.1), (0.0, 0.5, 2.0)])
def test_spatial_normaliser_is_the_filter_of_ones(sigmas):
    """The separable shortcut for K 1 gives what a full apply of ones gives."""
    shape = (6, 23, 31)
    spatial = SpatialGaussianFilter(shape, sigmas)
    expected = torch.rsqrt(spatial.apply(torch.ones(int(np.prod(shape)))).clone() + 1e-20)
    torch.testing.assert_close(spatial.normalise_symmetric(), expected, rtol=1e-5, atol=1e-7)


def test_apply_into_adds_the_scaled_result():
    shape = (3, 19, 23)
    image = smooth_image(shape, seed=13).float()
    generator = torch.Generator().manual_seed(14)
    values, base = torch.rand(2, int(np.prod(shape)), generator=generator)
    sigmas = [5.0 / s for s in SPACING_ZYX]
    for filter_ in (BilateralGridFilter(image, sigmas, 20.0), SpatialGaussianFilter(shape, sigmas)):
        for normalised in (False, True):
            if normalised:
                filter_.normalise_symmetric()
            expected = base + 0.7 * filter_.apply(values).clone()
            into = base.clone()
            assert filter_.apply(values, into=into, alpha=0.7) is into
            torch.testing.assert_close(into, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, sigmas, theta_hu", [
    ((7, 37, 29), (2.5, 8.0, 9.0), 15.0),  # 37 rows, 29 columns: no whole number of cells
    ((3, 64, 70), (0.0, 12.0, 12.0), 20.0),  # slices filtered apart (2D)
    ((5, 23, 31), (0.0, 0.6, 0.6), 20.0),  # one node per row and column (cells of one voxel)
    ((9, 17, 19), (3.0, 1.2, 30.0), 5.0),  # x cells wider than the image
])
def test_fused_cpu_kernels_equal_the_pytorch_path(monkeypatch, shape, sigmas, theta_hu):
    """The fused Numba splat/slice is the same linear map as the PyTorch scatter/gather: same
    values up to float32 rounding, before and after the symmetric normalisation, and the
    accumulate form adds alpha times the filter."""
    pytest.importorskip("numba")
    image = smooth_image(shape, seed=13).float()
    values = torch.rand(int(np.prod(shape)), generator=torch.Generator().manual_seed(14)) * 2 - 1
    monkeypatch.setattr(filters, "FUSED_CPU", False)
    reference = BilateralGridFilter(image, sigmas, theta_hu)
    monkeypatch.setattr(filters, "FUSED_CPU", True)
    fused = BilateralGridFilter(image, sigmas, theta_hu)
    assert fused._fused and not reference._fused
    torch.testing.assert_close(fused.apply(values), reference.apply(values), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused.apply(None), reference.apply(None), rtol=1e-5, atol=1e-5)  # K 1
    torch.testing.assert_close(fused.normalise_symmetric(), reference.normalise_symmetric(), rtol=1e-5, atol=1e-6)
    expected = reference.apply(values).clone()
    torch.testing.assert_close(fused.apply(values), expected, rtol=1e-5, atol=1e-6)
    into = torch.ones_like(values)
    fused.apply(values, into=into, alpha=0.25)
    torch.testing.assert_close(into, 1 + 0.25 * expected, rtol=1e-5, atol=1e-6)


def test_fused_cpu_kernels_give_the_same_bits_on_any_thread_count():
    """The splat's two phases give every node its additions in one fixed order, so the serial
    driver (one intra-op thread) and the parallel one (two) give the same bits."""
    pytest.importorskip("numba")
    shape = (6, 45, 41)
    image = smooth_image(shape, seed=15).float()
    values = torch.rand(int(np.prod(shape)), generator=torch.Generator().manual_seed(16))
    bilateral = BilateralGridFilter(image, [6.0 / s for s in SPACING_ZYX], 20.0)
    assert bilateral._fused
    results = []
    previous = torch.get_num_threads()
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append((bilateral.apply(None).clone(), bilateral.apply(values).clone()))
    finally:
        torch.set_num_threads(previous)
    for serial, parallel in zip(*results):
        torch.testing.assert_close(serial, parallel, rtol=0, atol=0)


def test_kernels_are_prepared_once_in_the_background():
    """prepare_cpu_kernels loads both drivers of both kernels in one daemon thread per process,
    so that the first CRF after it compiles nothing."""
    fused_cpu = pytest.importorskip("livseg.crf.fused_cpu")
    import threading

    filters.prepare_cpu_kernels()
    filters.prepare_cpu_kernels()  # a second call starts nothing
    for thread in [t for t in threading.enumerate() if t.name == "livseg-crf-warm-up"]:
        thread.join(timeout=120)
    for kernel in (fused_cpu._splat_serial, fused_cpu._splat_parallel, fused_cpu._slice_serial,
                   fused_cpu._slice_parallel):
        assert kernel.signatures, kernel
    before = {k: len(k.signatures) for k in (fused_cpu._splat_parallel, fused_cpu._slice_parallel)}
    image = smooth_image((4, 20, 22), seed=17).float()
    bilateral = BilateralGridFilter(image, [4.0 / s for s in SPACING_ZYX], 20.0)
    bilateral.normalise_symmetric()
    bilateral.apply(torch.rand(4 * 20 * 22), into=torch.zeros(4 * 20 * 22), alpha=0.5)
    assert {k: len(k.signatures) for k in before} == before  # the real call found its compiled version
