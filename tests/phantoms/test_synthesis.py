"""CT synthesis on the 3D-IRCADb organ masks: determinism, grid, labels = masks, HU per phase,
field-of-view cuts, domain randomisation, the hold-out, training sources and the CLI.

Coarse grids (3 x 3 x 5 mm) and the smallest patient (18: 74 slices) keep this fast; one case
is made at the masks' own spacing for the exact label check.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from livseg.datasets.shared import shared_data_root

ROOT = shared_data_root()
MASKS = ROOT / "ircadb-masks" if ROOT is not None else None
pytestmark = pytest.mark.skipif(MASKS is None or not MASKS.is_dir(),
                                reason="3D-IRCADb masks not found: set LIVSEG_SHARED_DATA or place "
                                       "../shared/data (with ircadb-masks/) beside the repo")
PATIENT = "patient-18"
COARSE = (3.0, 3.0, 5.0)


@lru_cache(maxsize=None)
def masks():
    from livseg.phantoms.masks import mask_patients, read_masks

    patient = mask_patients(MASKS, patients=[PATIENT])[0]
    return patient, read_masks(patient)


@lru_cache(maxsize=None)
def case(seed: int, **options):
    from livseg.phantoms.synthesis import synthesise_case

    patient, read = masks()
    options.setdefault("spacing_mm", COARSE)
    return synthesise_case(patient, seed, masks=read, **options)


def test_same_seed_same_bytes_other_seed_other_case():
    from livseg.phantoms.synthesis import synthesise_case

    patient, read = masks()
    first = case(3)
    again = synthesise_case(patient, 3, masks=read, spacing_mm=COARSE)
    assert first.ct.array.tobytes() == again.ct.array.tobytes()
    assert first.labels.array.tobytes() == again.labels.array.tobytes()
    assert first.ct.geometry == again.ct.geometry
    other = case(4)
    assert other.ct.geometry != first.ct.geometry or other.ct.array.tobytes() != first.ct.array.tobytes()


def test_output_grid_types_and_labels():
    result = case(3)
    ct, labels = result.ct, result.labels
    assert ct.array.dtype == np.int16 and labels.array.dtype == np.uint8
    assert ct.geometry == labels.geometry and ct.kind == "ct" and labels.kind == "label"
    assert ct.geometry.spacing_mm == COARSE
    assert ct.array.shape == ct.geometry.shape_zyx
    assert set(np.unique(labels.array)) <= {0, 1, 2}
    assert (labels.array == 1).sum() > 1000 and (labels.array == 2).any()
    assert result.info["patient"] == PATIENT and result.info["phase"] in ("non-contrast", "arterial", "portal-venous")


def _mask_on(geometry, mask_geometry, mask: np.ndarray) -> np.ndarray:
    """``mask`` sampled by nearest neighbour at the voxel centres of ``geometry`` (identity
    direction both, as the masks and unflipped outputs are)."""
    nx, ny, nz = geometry.size
    axes = [geometry.origin_mm[a] + geometry.spacing_mm[a] * np.arange(n) for a, n in enumerate((nx, ny, nz))]
    index = [np.rint((axes[a] - mask_geometry.origin_mm[a]) / mask_geometry.spacing_mm[a]).astype(int)
             for a in range(3)]
    out = np.zeros((nz, ny, nx), dtype=bool)
    valid = [(i >= 0) & (i < mask_geometry.size[a]) for a, i in enumerate(index)]
    ix, iy, iz = (i[v] for i, v in zip(index, valid))
    out[np.ix_(valid[2], valid[1], valid[0])] = mask[np.ix_(iz, iy, ix)]
    return out


def test_labels_are_exactly_the_masks_at_native_spacing_without_deformation():
    patient, read = masks()
    result = case(5, spacing_mm=read.geometry.spacing_mm, deform=False, fov="none", flip_axes=False)
    liver = read.union("liver") | read.union("tumour")
    expected = _mask_on(result.labels.geometry, read.geometry, liver).astype(np.uint8)
    expected[_mask_on(result.labels.geometry, read.geometry, read.union("tumour"))] = 2
    assert result.info["paint_step_xyz"] == [1, 1, 1]
    assert np.array_equal(result.labels.array, expected)


def test_labels_match_the_resampled_mask_without_deformation():
    patient, read = masks()
    result = case(6, spacing_mm=(1.2, 1.2, 3.0), deform=False, flip_axes=False, fov="none")
    expected = _mask_on(result.labels.geometry, read.geometry, read.union("liver"))
    found = result.labels.array >= 1
    dice = 2 * (found & expected).sum() / (found.sum() + expected.sum())
    assert dice >= 0.99


def test_deformation_moves_the_liver_but_keeps_its_size():
    patient, read = masks()
    still = case(7, deform=False, flip_axes=False, fov="none")
    moved = case(7, deform=True, flip_axes=False, fov="none")
    assert moved.info["deformation"]["deformed"] and not still.info["deformation"]["deformed"]
    a, b = still.labels.array >= 1, moved.labels.array >= 1
    ratio = b.sum() / a.sum()
    assert 0.7 < ratio < 1.4
    if a.shape == b.shape:
        assert not np.array_equal(a, b)


def _mean_hu(result, tissues, erode: bool = True) -> float:
    tissue = result.tissues.array
    where = np.isin(tissue, np.asarray(tissues, dtype=np.uint8))
    if erode:
        core = ndimage.binary_erosion(where, np.ones((1, 3, 3), bool))
        where = core if core.sum() > 20 else where
    assert where.sum() > 0
    return float(result.ct.array[where].mean())


def test_hu_per_tissue_and_phase():
    from livseg.phantoms.tissues import Tissue

    plain = case(8, phase="non-contrast", deform=False)
    arterial = case(8, phase="arterial", deform=False)
    portal = case(8, phase="portal-venous", deform=False)
    liver = {name: _mean_hu(c, [Tissue.LIVER]) for name, c in
             (("nc", plain), ("art", arterial), ("pv", portal))}
    assert 35 < liver["nc"] < 75 and 85 < liver["pv"] < 135
    assert liver["pv"] > liver["art"] > liver["nc"]
    vessels = [Tissue.PORTAL_VEIN, Tissue.PORTAL_TRUNK]
    assert _mean_hu(portal, vessels, erode=False) > _mean_hu(plain, vessels, erode=False) + 40
    cava = [Tissue.IVC, Tissue.HEPATIC_VEIN]
    assert _mean_hu(portal, cava, erode=False) > _mean_hu(plain, cava, erode=False) + 30
    for c in (plain, portal):
        assert _mean_hu(c, [Tissue.SUBCUTANEOUS_FAT, Tissue.VISCERAL_FAT]) < -40
        assert _mean_hu(c, [Tissue.CANCELLOUS_BONE, Tissue.CORTICAL_BONE], erode=False) > 150
        assert _mean_hu(c, [Tissue.MUSCLE]) > 20
        assert _mean_hu(c, [Tissue.AIR]) < -900
        assert (c.tissues.array == Tissue.BOWEL_WALL).any()  # bowel fills the unlabelled abdomen


def test_field_of_view_cut_through_the_dome_leaves_the_liver_cut():
    whole = case(9, deform=False, fov="none", flip_axes=False)
    dome = case(9, deform=False, fov="dome", flip_axes=False)
    pelvis = case(9, deform=False, fov="pelvis", flip_axes=False)
    assert dome.info["fov_cut"] == "dome"
    assert (dome.labels.array[-1] >= 1).any()  # the top slice (z grows to the head) cuts the liver
    assert (whole.labels.array >= 1).sum() > (dome.labels.array >= 1).sum()
    assert pelvis.ct.geometry.origin_mm[2] >= whole.ct.geometry.origin_mm[2]


def test_random_intensity_mode_changes_hu_not_labels():
    ct_case = case(10, deform=False)
    random_case = case(10, deform=False, intensity="random")
    assert random_case.info["intensity"] == "random"
    assert np.array_equal(ct_case.labels.array, random_case.labels.array)
    assert ct_case.info["tissue_hu"]["liver"] != random_case.info["tissue_hu"]["liver"]


def test_held_out_patients_are_not_listed_for_training():
    from livseg.phantoms.masks import HELD_OUT_PATIENTS, mask_patients

    training = {p.patient_id for p in mask_patients(MASKS)}
    everyone = {p.patient_id for p in mask_patients(MASKS, include_held_out=True)}
    assert len(HELD_OUT_PATIENTS) == 4 and set(HELD_OUT_PATIENTS) <= everyone
    assert not training & set(HELD_OUT_PATIENTS) and training | set(HELD_OUT_PATIENTS) == everyone


def test_organ_names_map_to_canonical_organs():
    from livseg.phantoms.masks import organ_of

    assert organ_of("livertumor02") == organ_of("livertumors") == "tumour"
    assert organ_of("portalvein1") == "portal_vein" and organ_of("venoussystem") == "venous"
    assert organ_of("liverkyste") == organ_of("livercyst") == "cyst"
    assert organ_of("skin") == "body" and organ_of("Stones") == "stones"


def test_config_sources_and_split(tmp_path: Path):
    from livseg.config import load_config
    from livseg.training.cases import sources_for, split_cases

    path = tmp_path / "synth.yaml"
    path.write_text(f"name: synth\ndata:\n  root: {ROOT}\n  cases: [chaos-ct-1]\n"
                    f"  mask_synthesis: {{n: 3, seed: 1, root: {MASKS}, random_intensity_share: 0.5}}\n"
                    "  lesion_copies: {copies: 2, seed: 0}\n  val_cases: [chaos-ct-1]\n", encoding="utf-8")
    config = load_config(path)
    ids = [s.case_id for s in sources_for(config.data)]
    assert ids[:3] == ["chaos-ct-1", "chaos-ct-1+lesions-0", "chaos-ct-1+lesions-1"]
    assert len(ids) == 6 and all(i.startswith("synth-") for i in ids[3:])
    assert not any(h in i for i in ids for h in ("patient-04", "patient-09", "patient-16", "patient-19"))
    train, val = split_cases(ids, config.data, 0)
    assert set(val) == {"chaos-ct-1", "chaos-ct-1+lesions-0", "chaos-ct-1+lesions-1"}


def test_cli_writes_synthesised_cases(run_cli, tmp_path: Path):
    code, out, _ = run_cli("data", "synth", tmp_path, "--n", "1", "--seed", "2", "--patients", "18",
                           "--mask-root", MASKS, "--spacing", "3", "3", "5", "--no-deform")
    assert code == 0, out
    from livseg.io import read_volume

    image = read_volume(tmp_path / "images" / "synth-000-patient-18.nii.gz", kind="ct")
    label = read_volume(tmp_path / "labels" / "synth-000-patient-18.nii.gz", kind="label")
    assert image.geometry.same_grid(label.geometry) and (label.array >= 1).any()
