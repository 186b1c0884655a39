"""Case splits (explicit, leave-one-out, k-fold, fraction) and the data-set fingerprint."""

from __future__ import annotations

import os

import pytest

from livseg.config import DataConfig, PhantomData
from livseg.errors import ConfigError
from livseg.training.cases import CaseSource, _file_identity, fingerprint, split_cases

IDS = [f"case-{i:02d}" for i in range(20)]
PHANTOMS = PhantomData(n=2)


def test_leave_one_out_holds_out_the_fold_th_case():
    train, val = split_cases(IDS, DataConfig(phantoms=PHANTOMS, folds="leave-one-out", fold=7), seed=0)
    assert val == ["case-07"] and len(train) == 19 and "case-07" not in train
    with pytest.raises(ConfigError, match="below 20"):
        split_cases(IDS, DataConfig(phantoms=PHANTOMS, folds="leave-one-out", fold=20), seed=0)


def test_k_fold_deals_round_robin_and_folds_partition_the_cases():
    held = []
    for fold in range(5):
        train, val = split_cases(IDS, DataConfig(phantoms=PHANTOMS, folds=5, fold=fold), seed=0)
        assert len(val) == 4 and set(train).isdisjoint(val)
        held += val
    assert sorted(held) == IDS
    _, val = split_cases(IDS, DataConfig(phantoms=PHANTOMS, folds=5, fold=1), seed=0)
    assert val == ["case-01", "case-06", "case-11", "case-16"]


def test_fraction_split_is_seeded():
    data = DataConfig(phantoms=PHANTOMS, val_fraction=0.25)
    train, val = split_cases(IDS, data, seed=3)
    assert len(val) == 5 and len(train) == 15
    assert split_cases(IDS, data, seed=3) == (train, val)
    assert split_cases(IDS, data, seed=4)[1] != val
    assert split_cases(["a", "b"], DataConfig(phantoms=PHANTOMS, val_fraction=0.1), seed=0)[1] != []
    assert split_cases(["a"], data, seed=0) == (["a"], [])


def test_explicit_validation_cases():
    train, val = split_cases(IDS, DataConfig(phantoms=PHANTOMS, val_cases=("case-03", "case-10")), seed=0)
    assert val == ["case-03", "case-10"] and len(train) == 18
    with pytest.raises(ConfigError, match="unknown ids"):
        split_cases(IDS, DataConfig(phantoms=PHANTOMS, val_cases=("nope",)), seed=0)


def test_fingerprint_changes_with_content_and_ignores_order(tmp_path):
    image = tmp_path / "a.nii.gz"
    image.write_bytes(b"12345")
    source = CaseSource("a", load=lambda: None, identity=_file_identity(image))  # type: ignore[arg-type,return-value]
    other = CaseSource("b", load=lambda: None, identity="phantom seed=1")  # type: ignore[arg-type,return-value]
    before = fingerprint([source, other])
    assert fingerprint([other, source]) == before
    image.write_bytes(b"123456")
    changed = CaseSource("a", load=lambda: None, identity=_file_identity(image))  # type: ignore[arg-type,return-value]
    assert fingerprint([changed, other]) != before
    os.utime(image, ns=(1, 1))
    touched = CaseSource("a", load=lambda: None, identity=_file_identity(image))  # type: ignore[arg-type,return-value]
    assert fingerprint([touched, other]) != fingerprint([changed, other])


def test_a_training_config_maps_foreign_label_values(tmp_path):
    """data.label_map does for training what --label-map does elsewhere: a TotalSegmentator-style
    label (liver = 5, other organs other values) becomes 0/1; without it the error says how."""
    import numpy as np

    from livseg.io import write_volume
    from livseg.training.cases import dataset_sources
    from livseg.volume import Geometry, Volume

    grid = Geometry(size=(6, 5, 4), spacing_mm=(1.0, 1.0, 2.0), origin_mm=(0.0, 0.0, 0.0),
                    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    labels = np.zeros((4, 5, 6), dtype=np.uint8)
    labels[1:3, 1:4, 1:3] = 5   # liver
    labels[1:3, 1:4, 4:6] = 2   # another organ (spleen in TotalSegmentator)
    ct = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    write_volume(Volume(ct, grid, kind="ct"), tmp_path / "images" / "a.nii.gz")
    write_volume(Volume(labels, grid, kind="label"), tmp_path / "labels" / "a.nii.gz")
    (source,) = dataset_sources(DataConfig(root=str(tmp_path), label_map="5:1,*:0"))
    _, label = source.load()
    np.testing.assert_array_equal(label.array, (labels == 5).astype(np.uint8))
    (source,) = dataset_sources(DataConfig(root=str(tmp_path)))
    with pytest.raises(Exception, match="data.label_map"):
        source.load()
