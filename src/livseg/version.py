"""livseg's version, in a module of its own so that every layer can read it without importing
the package's public facade (``livseg/__init__``)."""

from __future__ import annotations

__version__ = "0.1.0"
