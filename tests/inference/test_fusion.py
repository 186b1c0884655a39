"""Branch fusion (Dou et al. eq. 4) and the inference settings a bundle carries."""

from __future__ import annotations

import pytest
import torch

from livseg.errors import ConfigError
from livseg.inference import InferenceSettings, fuse_probabilities, resolve_fusion_weights
from livseg.inference.settings import settings_from_mapping, settings_to_mapping


def test_fusion_is_the_weighted_average_by_hand():
    main = torch.tensor([[0.2, 0.8]])
    branch1 = torch.tensor([[0.6, 0.4]])
    branch2 = torch.tensor([[0.5, 0.5]])
    weights = resolve_fusion_weights((2, 1, 1), num_branches=2)
    assert weights == (0.5, 0.25, 0.25)
    fused = fuse_probabilities([main, branch1, branch2], weights)
    # background: 0.5 * 0.2 + 0.25 * 0.6 + 0.25 * 0.5 = 0.375; liver: 0.625
    torch.testing.assert_close(fused, torch.tensor([[0.375, 0.625]]))
    torch.testing.assert_close(main, torch.tensor([[0.2, 0.8]]))  # inputs untouched


def test_zero_weights_skip_outputs_and_none_means_main_only():
    assert resolve_fusion_weights(None, 2) == (1.0, 0.0, 0.0)
    main = torch.tensor([[0.3, 0.7]])
    torch.testing.assert_close(fuse_probabilities([main, None, None], (1.0, 0.0, 0.0)), main)


@pytest.mark.parametrize("weights,match", [((1, 1), "3 weights"), ((1, -1, 1), "numbers >= 0"),
                                           ((0, 0, 0), "not all 0")])
def test_bad_fusion_weights_are_refused(weights, match):
    with pytest.raises(ConfigError, match=match):
        resolve_fusion_weights(weights, num_branches=2)


def test_settings_round_trip_and_unknown_keys():
    defaults = InferenceSettings(window_voxels_xyz=(96, 96, 48), overlap=0.5)
    changed = settings_from_mapping({"fusion_weights": [0.6, 0.2, 0.2], "crf": {"mode": "2d", "mu1": 4.0},
                                     "postprocess": {"min_tumour_volume_mm3": 50.0}}, defaults=defaults)
    assert changed.window_voxels_xyz == (96, 96, 48) and changed.overlap == 0.5
    assert changed.crf.mode == "2d" and changed.crf.params.mu1 == 4.0 and changed.crf.params.mu2 == 3.0
    assert changed.postprocess.min_tumour_volume_mm3 == 50.0
    assert settings_from_mapping(settings_to_mapping(changed), defaults=InferenceSettings()) == changed
    with pytest.raises(ConfigError, match="unknown key 'overlapp'"):
        settings_from_mapping({"overlapp": 0.5}, defaults=defaults)
    with pytest.raises(ConfigError, match="unknown key 'mu3'"):
        settings_from_mapping({"crf": {"mu3": 1.0}}, defaults=defaults)
    with pytest.raises(ConfigError, match="inference.overlap"):
        settings_from_mapping({"overlap": 1.0}, defaults=defaults)
