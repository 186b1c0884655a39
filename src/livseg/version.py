"""livseg's version, and the versions of what it runs on, in a module of its own so that every
layer can read them without importing the package's public facade (``livseg/__init__``)."""

from __future__ import annotations

import sys

__version__ = "0.1.0"

#: Distributions whose versions checkpoints and reports record (distribution = module name).
PACKAGES = ("torch", "monai", "SimpleITK", "numpy", "scipy", "matplotlib")


def versions() -> dict[str, str]:
    """{"python": ..., "livseg": ..., "torch": ..., "monai": ..., ...}; "not installed" where absent.

    A package already imported reports its ``__version__``; the others are read from the
    installed distributions' metadata, so nothing (torch above all) is imported for this.
    """
    import platform  # here, not at import: ``livseg --version`` must stay instant
    from importlib import metadata

    found = {"python": platform.python_version(), "livseg": __version__}
    for name in PACKAGES:
        version = getattr(sys.modules.get(name), "__version__", None)
        if version is None:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                version = "not installed"
        found[name] = str(version)
    return found
