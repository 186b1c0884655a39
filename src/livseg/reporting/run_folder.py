"""What the report takes from a training run folder: the per-epoch CSV log and YAML configs.

``livseg train`` writes ``log.csv`` (one row per epoch: ``epoch``, ``lr``, ``train_loss``,
``val_dice``, ...) and ``config.yaml`` into its run folder; ``history.csv`` is accepted as
the log's name too. The log is read here with the csv module rather than through
``livseg.training`` so a report never imports torch just to draw curves.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from livseg.errors import UnreadableInputError

LOG_NAMES = ("log.csv", "history.csv")
CONFIG_SUFFIXES = (".yaml", ".yml")
MAX_CONFIG_CHARS = 50_000


def find_training_log(folder: Path) -> Path | None:
    """The run's per-epoch CSV log in ``folder``, or None."""
    for name in LOG_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def _value(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_training_log(path: Path) -> list[dict[str, float | None]]:
    """One dict per epoch: column -> float (None for empty, non-numeric or non-finite cells).

    Raises:
        UnreadableInputError: not a CSV with an ``epoch`` column.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = [{key: _value(text) for key, text in row.items() if key is not None} for row in reader]
            columns = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableInputError(path, expected="a per-epoch CSV log", found=f"unreadable ({exc})") from exc
    if "epoch" not in columns:
        raise UnreadableInputError(path, expected="a CSV log with an 'epoch' column",
                                   found=f"columns {', '.join(columns) or 'none'}")
    return rows


def config_files(folder: Path) -> list[Path]:
    """YAML files directly inside ``folder`` (sorted by name)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CONFIG_SUFFIXES)


def read_config_text(path: Path) -> str:
    """The file's text (cut at MAX_CONFIG_CHARS with a note), for showing verbatim."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInputError(path, expected="a UTF-8 YAML file", found=f"unreadable ({exc})") from exc
    if len(text) > MAX_CONFIG_CHARS:
        text = text[:MAX_CONFIG_CHARS] + f"\n... (cut: {len(text)} characters in all)\n"
    return text
