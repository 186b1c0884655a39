"""Names tune-crf's command line offers, as plain constants (nothing heavy is imported)."""

from __future__ import annotations

#: Search methods: the exhaustive grid, random search, successive halving.
SEARCHES = ("grid", "random", "halving")
