"""What made a report: the commands, for the report's last section (versions:
``livseg.version.versions``)."""

from __future__ import annotations

import shlex
from typing import Iterable


def command_line(words: Iterable[str]) -> str:
    """Words joined as a shell would need them typed (quoted where needed)."""
    return " ".join(shlex.quote(str(word)) for word in words)
