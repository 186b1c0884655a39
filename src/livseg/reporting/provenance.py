"""What made a report: software versions and the commands, for the report's last section."""

from __future__ import annotations

import platform
import shlex
from importlib import metadata
from typing import Iterable

#: Distributions whose versions every report lists (distribution name, shown name).
PACKAGES = (("livseg", "livseg"), ("torch", "torch"), ("SimpleITK", "SimpleITK"), ("numpy", "numpy"),
            ("scipy", "scipy"), ("matplotlib", "matplotlib"))


def versions() -> dict[str, str]:
    """{"python": ..., "livseg": ..., "torch": ..., ...}; "not installed" where absent.

    Read from the installed distributions' metadata, so torch is never imported for it.
    """
    found = {"python": platform.python_version()}
    for distribution, name in PACKAGES:
        try:
            found[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def command_line(words: Iterable[str]) -> str:
    """Words joined as a shell would need them typed (quoted where needed)."""
    return " ".join(shlex.quote(str(word)) for word in words)
