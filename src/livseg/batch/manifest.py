"""``OUT/manifest.jsonl``: one JSON line per case a run handled, appended atomically.

Each line records the input, the output, the status ("ok", "skipped" because a complete output
of the same model and settings was there, or "failed" with its one-line error), the model's name
and SHA-256, package versions, seconds per stage and the liver and tumour volumes. Several
processes (shards, array jobs) may append to the same manifest: each line is one ``write`` on a
file opened for appending, which the operating system does not interleave with another's.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

MANIFEST_NAME = "manifest.jsonl"


def append_record(folder: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Append ``record`` (plus the time) as one line to ``folder/manifest.jsonl``."""
    path = Path(folder) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**record, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                      sort_keys=False, allow_nan=False) + "\n"
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(handle, line.encode("utf-8"))
    finally:
        os.close(handle)
    return path


def read_records(folder: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The manifest's records in order (a line cut short by a kill is skipped)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
