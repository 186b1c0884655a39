"""livseg: liver and liver-tumour segmentation of abdominal CT.

The public API is re-exported here; see README.md for a tour.
"""

from __future__ import annotations

from livseg.errors import LivsegError
from livseg.version import __version__
from livseg.volume import Geometry, Volume

__all__ = ["Geometry", "LivsegError", "Volume", "__version__"]
