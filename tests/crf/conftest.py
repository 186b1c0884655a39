"""Both CPU paths of the bilateral filter: the fused Numba kernels and the PyTorch one (the GPU's)."""

from __future__ import annotations

import importlib.util

import pytest

from livseg.crf import filters


@pytest.fixture(params=["fused", "torch"])
def cpu_path(request, monkeypatch):
    """Run the test once with the fused CPU kernels and once with the PyTorch path."""
    if request.param == "fused" and importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed: the fused CPU path cannot run")
    monkeypatch.setattr(filters, "FUSED_CPU", request.param == "fused")
    assert filters.fused_cpu_available() == (request.param == "fused")
    return request.param


@pytest.fixture
def torch_path(monkeypatch):
    """The PyTorch path of the bilateral filter (tests of its slabs, threads and index layouts)."""
    monkeypatch.setattr(filters, "FUSED_CPU", False)
