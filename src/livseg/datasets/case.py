"""A case of a data set: an image, an optional reference label, and how to map its labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# livseg's label convention: 0 background, 1 liver, 2 liver tumour.
BACKGROUND, LIVER, TUMOUR = 0, 1, 2
LABEL_NAMES = {BACKGROUND: "background", LIVER: "liver", TUMOUR: "tumour"}


@dataclass(frozen=True)
class Case:
    """One scan of a data set.

    Attributes:
        case_id: stable identifier within the data set (e.g. "volume-117", "liver-orig001").
        image: path to the CT (file or DICOM folder).
        label: path to the reference label (file, DICOM folder, or mask folder), or None.
        label_map: source label value -> livseg label (0/1/2); values absent from the map are
            an error on reading, except that an empty map means "already 0/1/2".
        layout: name of the layout it came from ("lits", "msd", "sliver07", "chaos", "ircadb",
            "pairs", "csv").
        extra: layout-specific details (e.g. DICOM series UID, tumour mask paths).
    """

    case_id: str
    image: Path
    label: Path | None = None
    label_map: dict[int, int] = field(default_factory=dict)
    layout: str = "pairs"
    extra: dict = field(default_factory=dict)
