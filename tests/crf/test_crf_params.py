"""CrfParams: defaults, immutability, validation with one-line ConfigErrors."""

from __future__ import annotations

import dataclasses

import pytest

from livseg.crf import CrfParams
from livseg.errors import ConfigError


def test_defaults_and_frozen():
    params = CrfParams()
    assert (params.mu1, params.mu2, params.theta_alpha_mm, params.theta_beta_hu, params.theta_gamma_mm,
            params.iterations, params.hu_window) == (5.0, 3.0, 10.0, 20.0, 3.0, 5, (-200.0, 300.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.mu1 = 1.0  # type: ignore[misc]
    assert CrfParams(hu_window=[-100, 200]).hu_window == (-100.0, 200.0)
    assert CrfParams(hu_window=None).hu_window is None


@pytest.mark.parametrize("changes, field", [
    ({"mu1": -1.0}, "mu1"), ({"mu2": float("nan")}, "mu2"),
    ({"theta_alpha_mm": 0.0}, "theta_alpha_mm"), ({"theta_beta_hu": -5.0}, "theta_beta_hu"),
    ({"theta_gamma_mm": float("inf")}, "theta_gamma_mm"), ({"iterations": -1}, "iterations"),
    ({"iterations": 2.5}, "iterations"), ({"iterations": True}, "iterations"),
    ({"hu_window": (300.0, -200.0)}, "hu_window"), ({"hu_window": (1.0, 2.0, 3.0)}, "hu_window"),
    ({"mu1": "5"}, "mu1"),
])
def test_invalid_values_raise_config_errors(changes, field):
    with pytest.raises(ConfigError) as info:
        CrfParams(**changes)
    message = str(info.value)
    assert f"CrfParams.{field}" in message and "expected" in message and "\n" not in message
