"""The per-epoch record of a run: a CSV log, a PNG of the learning curves, optional TensorBoard.

Both files are rewritten whole (atomically) after every epoch, so they always match the last
checkpoint and never end half-written.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Sequence

from livseg.io.atomic import atomic_path
from livseg.io.tables import write_csv as write_table_csv

# Columns that always come first, in this order; the rest follow in first-seen order.
LEADING_COLUMNS = ("epoch", "lr", "seconds", "train_loss", "train_loss_main", "train_dice", "val_loss", "val_dice")


def columns_of(history: Sequence[dict[str, Any]]) -> list[str]:
    """All keys of the records: the leading columns first, then the others as first seen."""
    seen = [c for c in LEADING_COLUMNS if any(c in r for r in history)]
    for record in history:
        seen.extend(k for k in record if k not in seen)
    return seen


def _float_cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


def write_csv(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write one row per epoch (leading columns first, 6 significant digits, missing values as
    empty cells, "\\n" line ends), atomically through :func:`livseg.io.tables.write_csv`."""
    return write_table_csv(history, path, columns_of(history), float_format=_float_cell, line_end="\n")


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, float | None]]:
    """The rows of a log written by :func:`write_csv` (numbers as floats, empty as None)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: (float(v) if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)]


def plot_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> Path:
    """Write a PNG with loss (left) and Dice (right) against epoch, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    loss_axes, dice_axes = figure.subplots(1, 2)

    def series(key: str) -> tuple[list[float], list[float]]:
        points = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        return [p[0] for p in points], [p[1] for p in points]

    for key, label in (("train_loss", "training loss"), ("val_loss", "validation loss (main output)")):
        x, y = series(key)
        if x:
            loss_axes.plot(x, y, marker="o", markersize=3, label=label)
    for key, label in (("train_dice", "training Dice (patches)"), ("val_dice", "validation Dice")):
        x, y = series(key)
        if x:
            dice_axes.plot(x, y, marker="o", markersize=3, label=label)
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("loss")
    loss_axes.legend(loc="best")
    dice_axes.set_xlabel("epoch")
    dice_axes.set_ylabel("Dice")
    dice_axes.set_ylim(0.0, 1.0)
    dice_axes.legend(loc="lower right")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path


class TensorBoardLog:
    """Scalars of every record to TensorBoard (needs the ``tensorboard`` package)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            from livseg.errors import ConfigError

            raise ConfigError("output.tensorboard", expected="the tensorboard package",
                              found="it is not installed",
                              fix="pip install tensorboard, or set output.tensorboard=false") from exc
        self.writer = SummaryWriter(log_dir=str(folder))

    def add(self, record: dict[str, Any]) -> None:
        epoch = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and value is not None:
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
