"""``livseg models list [--json]``: the registered networks (size, receptive field) and the packaged
trained models (``--model NAME``: network, task, spacing, size on disk)."""

from __future__ import annotations

import argparse
import json
import sys

ORDER = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the segmentation networks",
                                   description="Facts about the registered segmentation networks.")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION")
    listing = actions.add_parser(
        "list", help="print every network: parameters, receptive field, branches, description",
        description="Print every registered network, built with its default options for 1 input channel "
                    "and 2 classes: trainable parameters, receptive field of the main output in voxels "
                    "(D x H x W, measured from the network's layers), deep-supervision branches and a "
                    "one-line description.")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    listing.add_argument("--no-receptive-field", dest="receptive_field", action="store_false",
                         help="skip measuring receptive fields (a few seconds per network)")
    listing.set_defaults(func=run)
    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _rf_text(rf: tuple[int, ...] | None) -> str:
    return "x".join(str(v) for v in rf) if rf else "-"


def run(args: argparse.Namespace) -> int:
    from livseg.models import model_names, summarize_model

    summaries = [summarize_model(name, with_receptive_field=args.receptive_field) for name in model_names()]
    packaged = packaged_models()
    if args.json:
        print(json.dumps({"networks": [s.as_dict() for s in summaries], "packaged": packaged}, indent=2))
        return 0
    from livseg.io.tables import format_table

    header = ("NAME", "PARAMETERS", "RECEPTIVE FIELD (DxHxW)", "BRANCHES", "DESCRIPTION")
    rows = [dict(zip(header, (s.name, f"{s.parameters:,}", _rf_text(s.receptive_field), str(s.branches),
                              s.description))) for s in summaries]
    print(format_table(rows, header, left=len(header)))
    print("\nPackaged trained models (livseg predict --model NAME):")
    if not packaged:
        print("  none installed")
    for item in packaged:
        print(f"  {item['name']:<16}{item['network']:<11}task {item['task']:<8}spacing {item['spacing_mm']} mm  "
              f"{item['parameters']:,} parameters  {item['megabytes']:.1f} MB  {item['file']}")
    return 0


def packaged_models() -> list[dict]:
    """Facts about each bundle in the package's weights folder (read from the bundle itself)."""
    from livseg.inference.bundle import load_bundle
    from livseg.inference.registry import available_models

    out = []
    for name, path in available_models().items():
        bundle = load_bundle(path, name=name)
        spacing = bundle.preprocessing.spacing_mm
        out.append({"name": name, "network": bundle.config.model.name if bundle.config else "?",
                    "task": bundle.task,
                    "spacing_mm": "x".join(f"{v:g}" for v in spacing) if spacing else "native",
                    "parameters": sum(p.numel() for p in bundle.network.parameters()),
                    "megabytes": path.stat().st_size / 1e6, "file": str(path)})
    return out
