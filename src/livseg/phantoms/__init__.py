"""Synthetic abdominal CT phantoms with liver and tumour labels, deterministic for a seed.

Public API::

    generate_phantom(seed, *, size_xyz=None, spacing_mm=None, liver=True, n_tumours=None,
                     flip_axes=True) -> (ct, labels)    # int16 HU, uint8 0/1/2, arrays (z, y, x)
    render_phantom(seed, ...) -> Phantom                # also the tissue map and what was drawn
    write_phantoms(out_dir, *, n, seed, size_xyz=None, fmt="nii.gz", spacing_mm=None) -> list[Case]
    phantom_seed(seed, index) -> int                    # seed of phantom ``index`` of a set
    synthesise_case(patient, seed, ...) -> SynthCase     # CT painted on 3D-IRCADb organ masks
    insert_lesions(ct, labels, seed, ...) -> Insertion   # lesions inserted into a real CT's liver
    HELD_OUT_PATIENTS                                    # mask patients never used for training

The generator is split by what each step draws or paints:

* :mod:`~livseg.phantoms.generator`: grid, scale and placement, flips, the public entry points.
* :mod:`~livseg.phantoms.anatomy`: a random patient drawn in nominal millimetres (LPS).
* :mod:`~livseg.phantoms.body`: body wall, diaphragm, ribs and table.
* :mod:`~livseg.phantoms.fields`: the nominal grid, boxes, smooth random fields, shapes.
* :mod:`~livseg.phantoms.paint`: the drawn patient painted as a tissue map (uint8 ids).
* :mod:`~livseg.phantoms.tissues`: tissue ids, their labels, HU per contrast phase.
* :mod:`~livseg.phantoms.intensity`: tissue map -> CT HU (texture, scanner blur, noise, streaks).
* :mod:`~livseg.phantoms.masks`: the 3D-IRCADb organ mask set: names, hold-out, reading.
* :mod:`~livseg.phantoms.mask_paint`: organ masks -> tissue map (body wall, thorax, bowel, spine).
* :mod:`~livseg.phantoms.synthesis`: grid, deformation, partial volume and scanner on the masks.
* :mod:`~livseg.phantoms.lesions`: lesions inserted into a real CT's liver.

Layer: the same as :mod:`livseg.datasets` (above io/config/preprocessing). The phantoms use
the data-set case record and label values (:mod:`livseg.datasets.case`); ``livseg.datasets``
never imports the phantoms.
"""

from __future__ import annotations

from livseg.phantoms.generator import (
    DEFAULT_SIZE_XYZ,
    PHANTOM_FORMATS,
    Phantom,
    generate_phantom,
    phantom_seed,
    render_phantom,
    write_phantoms,
)
from livseg.phantoms.lesions import Insertion, insert_lesions
from livseg.phantoms.masks import HELD_OUT_PATIENTS
from livseg.phantoms.synthesis import SynthCase, synthesise_case, write_synthesised
from livseg.phantoms.tissues import Tissue

__all__ = [
    "DEFAULT_SIZE_XYZ", "HELD_OUT_PATIENTS", "PHANTOM_FORMATS", "Insertion", "Phantom", "SynthCase", "Tissue",
    "generate_phantom", "insert_lesions", "phantom_seed", "render_phantom", "synthesise_case", "write_phantoms",
    "write_synthesised",
]
