"""Tissue classes of the synthetic CT phantom, their labels and their HU per contrast phase.

The phantom is first painted as a tissue map (uint8, one :class:`Tissue` id per voxel); the
label volume and the CT intensities are both looked up from it, so labels and HU can never
disagree. Tumours get their own ids (a core and a rim id per tumour) so each tumour can carry
its own HU.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from livseg.datasets.case import LIVER, TUMOUR

PHASES = ("non-contrast", "arterial", "portal-venous")
PHASE_PROBABILITIES = (0.2, 0.3, 0.5)

# Range (HU) of the liver parenchyma per phase; a patient's value is drawn uniformly in it.
LIVER_HU_RANGE: dict[str, tuple[float, float]] = {
    "non-contrast": (48.0, 62.0),
    "arterial": (70.0, 90.0),
    "portal-venous": (100.0, 120.0),
}
NOISE_SIGMA_HU_RANGE = (5.0, 25.0)
HU_MIN, HU_MAX = -1024, 3071  # range a 12-bit CT scanner stores


class Tissue(IntEnum):
    """Tissue ids of the phantom's tissue map (values below :data:`TUMOUR_FIRST`)."""

    AIR = 0
    SKIN = 1
    SUBCUTANEOUS_FAT = 2
    MUSCLE = 3
    VISCERAL_FAT = 4
    LUNG = 5
    CANCELLOUS_BONE = 6
    CORTICAL_BONE = 7
    DISC = 8
    SPINAL_CANAL = 9
    LIVER = 10
    PORTAL_VEIN = 11  # intrahepatic branches: labelled liver
    HEPATIC_VEIN = 12  # intrahepatic branches: labelled liver
    PORTAL_TRUNK = 13  # extrahepatic portal vein: background
    IVC = 14
    AORTA = 15
    GALLBLADDER = 16
    SPLEEN = 17
    HEART_BLOOD = 18
    MYOCARDIUM = 19
    KIDNEY_CORTEX = 20
    KIDNEY_MEDULLA = 21
    STOMACH_WALL = 22
    STOMACH_FLUID = 23
    GAS = 24
    BOWEL_WALL = 25
    BOWEL_FLUID = 26
    ORAL_CONTRAST = 27
    TABLE = 28
    LUNG_VESSEL = 29
    # Painted only by the synthesis on real organ masks (:mod:`livseg.phantoms.synthesis`).
    PANCREAS = 30
    ADRENAL = 31
    CYST = 32  # simple liver cyst: labelled liver (see synthesis.CYST_LABEL)
    METAL = 33
    STONE = 34
    BILE_DUCT = 35  # intrahepatic bile ducts: labelled liver
    HEPATIC_ARTERY = 36  # intrahepatic arteries: labelled liver
    RESECTION = 37  # post-resection defect (fluid) inside the liver mask: labelled liver
    SOFT_TISSUE = 38  # any other named organ or non-liver lesion


TUMOUR_FIRST = 40  # tumour i: core id TUMOUR_FIRST + 2 i, rim id TUMOUR_FIRST + 2 i + 1
MAX_TUMOURS = 12
LIVER_TISSUES = (Tissue.LIVER, Tissue.PORTAL_VEIN, Tissue.HEPATIC_VEIN, Tissue.CYST, Tissue.BILE_DUCT,
                 Tissue.HEPATIC_ARTERY, Tissue.RESECTION)
BONE_TISSUES = (Tissue.CANCELLOUS_BONE, Tissue.CORTICAL_BONE)


def tumour_core_id(index: int) -> int:
    return TUMOUR_FIRST + 2 * index


def tumour_rim_id(index: int) -> int:
    return TUMOUR_FIRST + 2 * index + 1


def label_lookup() -> np.ndarray:
    """(256,) uint8 table: tissue id -> livseg label (0 background, 1 liver, 2 tumour)."""
    table = np.zeros(256, dtype=np.uint8)
    table[list(LIVER_TISSUES)] = LIVER
    table[TUMOUR_FIRST: TUMOUR_FIRST + 2 * MAX_TUMOURS] = TUMOUR
    return table


# Mean HU per phase (non-contrast, arterial, portal venous) and the per-patient jitter (SD, HU).
# Liver, spleen and myocardium are drawn separately (spleen and myocardium relative to the liver).
_HU_TABLE: dict[Tissue, tuple[tuple[float, float, float], float]] = {
    Tissue.AIR: ((-1000.0, -1000.0, -1000.0), 0.0),
    Tissue.SKIN: ((30.0, 40.0, 45.0), 8.0),
    Tissue.SUBCUTANEOUS_FAT: ((-105.0, -100.0, -100.0), 8.0),
    Tissue.MUSCLE: ((50.0, 55.0, 60.0), 5.0),
    Tissue.VISCERAL_FAT: ((-95.0, -95.0, -95.0), 8.0),
    Tissue.LUNG: ((-860.0, -860.0, -860.0), 20.0),
    Tissue.CANCELLOUS_BONE: ((400.0, 400.0, 400.0), 40.0),
    Tissue.CORTICAL_BONE: ((900.0, 900.0, 900.0), 60.0),
    Tissue.DISC: ((90.0, 90.0, 90.0), 8.0),
    Tissue.SPINAL_CANAL: ((20.0, 20.0, 20.0), 5.0),
    Tissue.PORTAL_VEIN: ((45.0, 130.0, 185.0), 10.0),
    Tissue.HEPATIC_VEIN: ((45.0, 100.0, 165.0), 10.0),
    Tissue.PORTAL_TRUNK: ((45.0, 130.0, 185.0), 10.0),
    Tissue.IVC: ((40.0, 90.0, 150.0), 10.0),
    Tissue.AORTA: ((45.0, 300.0, 170.0), 20.0),
    Tissue.GALLBLADDER: ((10.0, 10.0, 10.0), 5.0),
    Tissue.HEART_BLOOD: ((40.0, 300.0, 170.0), 20.0),
    Tissue.KIDNEY_CORTEX: ((32.0, 190.0, 175.0), 15.0),
    Tissue.KIDNEY_MEDULLA: ((30.0, 85.0, 165.0), 10.0),
    Tissue.STOMACH_WALL: ((45.0, 95.0, 100.0), 8.0),
    Tissue.STOMACH_FLUID: ((10.0, 10.0, 10.0), 6.0),
    Tissue.GAS: ((-995.0, -995.0, -995.0), 3.0),
    Tissue.BOWEL_WALL: ((45.0, 95.0, 100.0), 8.0),
    Tissue.BOWEL_FLUID: ((15.0, 15.0, 15.0), 6.0),
    Tissue.ORAL_CONTRAST: ((260.0, 260.0, 260.0), 40.0),
    Tissue.TABLE: ((150.0, 150.0, 150.0), 0.0),
    Tissue.LUNG_VESSEL: ((40.0, 200.0, 150.0), 10.0),
}
# Tissues that only the synthesis on real masks paints; drawn by :func:`with_extra_tissues`
# (a separate stream, so the procedural phantoms' draws are unchanged).
_EXTRA_HU_TABLE: dict[Tissue, tuple[tuple[float, float, float], float]] = {
    Tissue.PANCREAS: ((40.0, 110.0, 95.0), 8.0),
    Tissue.ADRENAL: ((30.0, 80.0, 70.0), 8.0),
    Tissue.CYST: ((8.0, 8.0, 8.0), 5.0),
    Tissue.METAL: ((3000.0, 3000.0, 3000.0), 0.0),
    Tissue.STONE: ((350.0, 350.0, 350.0), 100.0),
    Tissue.BILE_DUCT: ((12.0, 12.0, 12.0), 5.0),
    Tissue.HEPATIC_ARTERY: ((45.0, 280.0, 165.0), 20.0),
    Tissue.RESECTION: ((15.0, 15.0, 20.0), 8.0),
    Tissue.SOFT_TISSUE: ((40.0, 70.0, 80.0), 8.0),
}
# The tissues a procedural phantom paints (every id but the mask synthesis's extras).
PHANTOM_TISSUES = tuple(t for t in Tissue if t not in _EXTRA_HU_TABLE)
_SPLEEN_MINUS_LIVER_HU = (-8.0, 12.0)
_MYOCARDIUM_MINUS_LIVER_HU = (-15.0, 10.0)

# Tumour kinds per phase: (kind, probability, core HU minus liver range, rim HU minus liver range).
_TUMOUR_KINDS: dict[str, tuple[tuple[str, float, tuple[float, float], tuple[float, float] | None], ...]] = {
    "non-contrast": (("hypo", 1.0, (-35.0, -15.0), None),),
    "arterial": (
        ("hyper", 0.5, (25.0, 60.0), None),
        ("hypo", 0.3, (-50.0, -20.0), None),
        ("rim", 0.2, (-50.0, -25.0), (15.0, 35.0)),
    ),
    "portal-venous": (
        ("hypo", 0.6, (-60.0, -25.0), None),
        ("hyper", 0.15, (20.0, 40.0), None),
        ("rim", 0.25, (-55.0, -25.0), (10.0, 25.0)),
    ),
}


@dataclass(frozen=True)
class TumourContrast:
    """How one tumour looks: kind ("hypo", "hyper", "rim") and its mean HU (core, rim)."""

    kind: str
    core_hu: float
    rim_hu: float


@dataclass(frozen=True)
class Contrast:
    """A patient's enhancement: phase, noise and the mean HU of every tissue id.

    Attributes:
        phase: one of :data:`PHASES`.
        noise_sigma_hu: standard deviation (HU) of the added image noise.
        liver_hu: mean parenchyma HU.
        hu_lookup: (256,) float32, tissue id -> mean HU (tumour ids included).
        tumours: one entry per tumour, in tumour order.
    """

    phase: str
    noise_sigma_hu: float
    liver_hu: float
    hu_lookup: np.ndarray
    tumours: tuple[TumourContrast, ...]


def draw_contrast(rng: np.random.Generator, n_tumours: int, phase: str | None = None) -> Contrast:
    """Draw a phase, the noise level and every tissue's mean HU for one patient.

    ``phase`` (one of :data:`PHASES`) replaces the drawn phase; the draw itself is still made,
    so every other value comes from the same place in the stream.
    """
    drawn = PHASES[int(rng.choice(len(PHASES), p=PHASE_PROBABILITIES))]
    if phase is not None and phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    phase = phase or drawn
    column = PHASES.index(phase)
    noise_sigma = float(rng.uniform(*NOISE_SIGMA_HU_RANGE))
    liver_hu = float(rng.uniform(*LIVER_HU_RANGE[phase]))
    lookup = np.zeros(256, dtype=np.float32)
    for tissue, (means, jitter) in _HU_TABLE.items():
        lookup[tissue] = means[column] + (rng.normal(0.0, jitter) if jitter > 0 else 0.0)
    lookup[Tissue.LIVER] = liver_hu
    lookup[Tissue.SPLEEN] = liver_hu + rng.uniform(*_SPLEEN_MINUS_LIVER_HU)
    lookup[Tissue.MYOCARDIUM] = liver_hu + rng.uniform(*_MYOCARDIUM_MINUS_LIVER_HU)
    # Contrast-filled vessels are brighter than the parenchyma they run through; unenhanced
    # blood is darker than unenhanced liver.
    for vessel in (Tissue.PORTAL_VEIN, Tissue.HEPATIC_VEIN, Tissue.PORTAL_TRUNK):
        if phase == "non-contrast":
            lookup[vessel] = min(lookup[vessel], liver_hu - 8.0)
        else:
            lookup[vessel] = max(lookup[vessel], liver_hu + 15.0)
    kinds = _TUMOUR_KINDS[phase]
    tumours = []
    for index in range(n_tumours):
        kind, _, core_range, rim_range = kinds[int(rng.choice(len(kinds), p=[k[1] for k in kinds]))]
        core = liver_hu + rng.uniform(*core_range)
        rim = liver_hu + rng.uniform(*rim_range) if rim_range is not None else core
        lookup[tumour_core_id(index)] = core
        lookup[tumour_rim_id(index)] = rim
        tumours.append(TumourContrast(kind=kind, core_hu=float(core), rim_hu=float(rim)))
    return Contrast(phase=phase, noise_sigma_hu=noise_sigma, liver_hu=liver_hu,
                    hu_lookup=lookup, tumours=tuple(tumours))


def with_extra_tissues(contrast: Contrast, rng: np.random.Generator) -> Contrast:
    """``contrast`` with the mean HU of the tissues only the mask synthesis paints (pancreas,
    adrenal, cyst, metal, stones, bile ducts, intrahepatic arteries, resection defect, other
    soft tissue), drawn from ``rng`` for ``contrast.phase``. Intrahepatic arteries follow the
    same rule as the other liver vessels (brighter than enhanced liver, darker than plain liver).
    """
    column = PHASES.index(contrast.phase)
    lookup = contrast.hu_lookup.copy()
    for tissue, (means, jitter) in _EXTRA_HU_TABLE.items():
        lookup[tissue] = means[column] + (rng.normal(0.0, jitter) if jitter > 0 else 0.0)
    if contrast.phase == "non-contrast":
        lookup[Tissue.HEPATIC_ARTERY] = min(lookup[Tissue.HEPATIC_ARTERY], contrast.liver_hu - 8.0)
    else:
        lookup[Tissue.HEPATIC_ARTERY] = max(lookup[Tissue.HEPATIC_ARTERY], contrast.liver_hu + 15.0)
    return Contrast(phase=contrast.phase, noise_sigma_hu=contrast.noise_sigma_hu, liver_hu=contrast.liver_hu,
                    hu_lookup=lookup, tumours=contrast.tumours)


def tumour_kind_ranges(phase: str) -> dict[str, tuple[tuple[float, float], tuple[float, float] | None]]:
    """Per tumour kind seen in ``phase``: (core HU minus liver range, rim HU minus liver range or
    None), the same table :func:`draw_contrast` draws from."""
    return {kind: (core, rim) for kind, _, core, rim in _TUMOUR_KINDS[phase]}
