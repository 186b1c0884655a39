"""``livseg info PATH``: what a CT or label file holds and the grid it lives on."""

from __future__ import annotations

import argparse
import json


ORDER = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show a volume's grid (size, spacing, origin, orientation) and intensities or labels",
        description="Read a CT or label volume (NIfTI, MetaImage, NRRD, MRC, DICOM folder) and "
                    "describe it: format, size, spacing, origin, direction, orientation code, "
                    "dtype, intensity percentiles, and for a label map the voxels and mL per label.",
    )
    parser.add_argument("path", help="image file, or a DICOM series folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--series", metavar="UID", default=None,
                        help="SeriesInstanceUID to read from a DICOM folder with several series")
    parser.add_argument("--label", action="store_true",
                        help="treat the volume as a label map (checks whole numbers >= 0)")
    parser.add_argument("--spacing-mm", nargs=3, type=float, metavar=("X", "Y", "Z"), default=None,
                        help="voxel spacing for files that do not record it (e.g. MRC)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livseg.io import read_volume, summarize

    volume = read_volume(args.path, kind="label" if args.label else "any",
                         series_uid=args.series, spacing_mm=args.spacing_mm, allow_non_finite=not args.label)
    summary = summarize(volume, label=True if args.label else None)
    if args.json:
        print(json.dumps(summary, sort_keys=False))
    else:
        print(format_text(summary))
    return 0


def _numbers(values: list | None, unit: str = "", digits: int = 7) -> str:
    if values is None:
        return "unknown"
    return " x ".join(f"{v:.{digits}g}" for v in values) + (f" {unit}" if unit else "")


def format_text(summary: dict) -> str:
    """The human-readable form of :func:`livseg.io.summarize`'s dict."""
    rows: list[tuple[str, str]] = [
        ("source", summary["source"]),
        ("format", summary["format"]),
        ("size", " x ".join(str(n) for n in summary["size"]) + " voxels (x y z)"),
        ("spacing", _numbers(summary["spacing_mm"], "mm")
         if summary["spacing_known"] else "unknown (not recorded in the file; give --spacing-mm X Y Z)"),
    ]
    if summary["orientation_known"]:
        direction = summary["direction"]
        rows += [
            ("origin", " ".join(f"{v:.7g}" for v in summary["origin_mm"]) + " mm (LPS)"),
            ("direction", " | ".join(" ".join(f"{v:.6g}" for v in direction[r * 3:r * 3 + 3])
                                     for r in range(3)) + " (rows, LPS)"),
            ("orientation", summary["orientation"] + (" (oblique)" if summary["oblique"] else "")),
        ]
    else:
        rows += [("origin", "unknown"), ("direction", "unknown"),
                 ("orientation", "unknown (the file records no patient orientation)")]
    if summary.get("geometry_note"):
        rows.append(("note", summary["geometry_note"]))
    rows.append(("dtype", summary["dtype"]))
    dicom = summary.get("dicom")
    if dicom:
        rows += [
            ("series", f"{dicom['series_uid'] or '(no UID)'} "
                       f"({dicom['modality'] or '?'}, {dicom['series_description'] or 'no description'!r},"
                       f" {dicom['slices']} slices)"),
        ]
        rescale = dicom.get("rescale") or {}
        rows.append(("rescale", f"slope {rescale.get('slope')} intercept {rescale.get('intercept')} (applied)"))
    stats = summary["intensity"]
    bad = summary["non_finite"]
    if bad["nan"] or bad["inf"]:
        rows.append(("non-finite", f"{bad['nan']} NaN and {bad['inf']} infinite voxels "
                                   "(refused for segmentation and evaluation; statistics below are of the rest)"))
    if stats is None:
        rows.append(("intensity", "no finite voxel"))
    else:
        rows.append(("intensity", f"min {stats['min']:g}  max {stats['max']:g}  "
                                  f"mean {stats['mean']:.6g}  std {stats['std']:.6g}"))
        if not summary["is_label"]:
            rows.append(("percentiles", "  ".join(f"{key} {value:g}"
                                                  for key, value in stats["percentiles"].items())))
    for warning in summary.get("warnings", []):
        rows.append(("warning", warning))
    width = max(len(key) for key, _ in rows)
    lines = [f"{key:<{width}}  {value}" for key, value in rows]
    if summary["is_label"]:
        lines.append("labels:")
        lines.append(f"  {'value':>6} {'voxels':>12} {'volume mL':>12}")
        for entry in summary["labels"]:
            volume_ml = "unknown" if entry["volume_ml"] is None else f"{entry['volume_ml']:.3f}"
            lines.append(f"  {entry['value']:>6} {entry['voxels']:>12} {volume_ml:>12}")
    return "\n".join(lines)
