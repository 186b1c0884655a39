"""A case of a data set: an image, an optional reference label, and how to map its labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# livseg's label convention: 0 background, 1 liver, 2 liver tumour.
BACKGROUND, LIVER, TUMOUR = 0, 1, 2
LABEL_NAMES = {BACKGROUND: "background", LIVER: "liver", TUMOUR: "tumour"}

# How a case's label is stored (``Case.extra["label_kind"]``); absent means LABEL_VOLUME.
LABEL_VOLUME = "volume"            # one label file or DICOM folder on the image's grid
LABEL_CHAOS_PNG = "chaos_png"      # a folder of per-slice PNG masks paired with DICOM files
LABEL_IRCADB_MASKS = "ircadb_masks"  # a liver mask series plus tumour mask series (-> 2)


@dataclass(frozen=True)
class Case:
    """One scan of a data set.

    Attributes:
        case_id: stable identifier within the data set (e.g. "volume-117", "liver-orig001").
        image: path to the CT (file or DICOM folder).
        label: path to the reference label (file, DICOM folder, or mask folder), or None.
        label_map: source label value -> livseg label (0/1/2); values absent from the map are
            an error on reading (unless ``label_default`` is set), except that an empty map
            means "already 0/1/2".
        layout: name of the layout it came from ("lits", "msd", "sliver07", "chaos", "ircadb",
            "pairs", "csv", "shared", "sample").
        extra: layout-specific details (e.g. DICOM series UID, tumour mask paths, label kind).
        label_default: livseg label for every source value absent from ``label_map`` (the
            ``*:0`` of ``--label-map 5:1,*:0``); None makes such values an error.
    """

    case_id: str
    image: Path
    label: Path | None = None
    label_map: dict[int, int] = field(default_factory=dict)
    layout: str = "pairs"
    extra: dict = field(default_factory=dict)
    label_default: int | None = None

    @property
    def has_label(self) -> bool:
        return self.label is not None

    @property
    def label_kind(self) -> str:
        """How the label is stored: LABEL_VOLUME, LABEL_CHAOS_PNG or LABEL_IRCADB_MASKS."""
        return str(self.extra.get("label_kind", LABEL_VOLUME))
