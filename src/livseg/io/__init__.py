"""Reading and writing CT and label volumes, geometry kept exactly.

This package is the only place that knows file formats, LPS/RAS and on-disk axis order.
Public API::

    read_volume(path, *, series_uid=None) -> Volume
    write_volume(volume, path) -> Path
"""

from __future__ import annotations

from livseg.io.reading import read_volume
from livseg.io.writing import write_volume

__all__ = ["read_volume", "write_volume"]
