"""livseg: liver and liver-tumour segmentation of abdominal CT.

The public API for notebooks and scripts, imported on first use (``import livseg`` stays cheap)::

    import livseg
    ct = livseg.read("ct.nii.gz")                    # Volume: array (z, y, x) in HU + exact Geometry
    labels = livseg.segment(ct)                       # uint8 Volume on ct's grid: 0 / 1 liver / 2 tumour
    livseg.write(labels, "liver.nii.gz")              # same size, spacing, origin and direction as ct
    scores = livseg.evaluate(labels, "reference.nii.gz")   # SLiver07 / LiTS measures per structure

See README.md for a tour and docs/ARCHITECTURE.md for the layout.
"""

from __future__ import annotations

from livseg.lazy import lazy_exports
from livseg.version import __version__

__getattr__, __dir__ = lazy_exports(__name__, {
    "livseg.api": ("evaluate", "read", "segment", "write"),
    "livseg.errors": ("LivsegError",),
    "livseg.inference.segmenter": ("Prediction", "Segmenter"),
    "livseg.volume": ("Geometry", "Volume"),
})

__all__ = ["Geometry", "LivsegError", "Prediction", "Segmenter", "Volume", "__version__", "evaluate", "read",
           "segment", "write"]
