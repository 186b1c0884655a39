"""One exception family for everything livseg reports to a user.

Every message is one line that names the input, what was expected, what was found and,
where there is one, what to do. The CLI prints ``livseg: error: <message>`` and exits
non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

from os import PathLike


class LivsegError(Exception):
    """Base class of every error livseg raises on purpose.

    Build it from parts so messages stay uniform::

        LivsegError("scan.nii.gz", expected="a 3D image", found="a 2D image of 512x512",
                    fix="pass a volume, not a single slice")
    """

    exit_code: int = 2

    def __init__(
        self,
        subject: str | PathLike[str] | None,
        *,
        expected: str | None = None,
        found: str | None = None,
        fix: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.subject = None if subject is None else str(subject)
        self.expected = expected
        self.found = found
        self.fix = fix
        self.detail = detail
        super().__init__(self._format())

    def _format(self) -> str:
        parts: list[str] = []
        if self.subject:
            parts.append(f"{self.subject}:")
        if self.detail:
            parts.append(self.detail.rstrip(".") + ";")
        if self.expected is not None:
            parts.append(f"expected {self.expected},")
        if self.found is not None:
            parts.append(f"found {self.found}")
        text = " ".join(parts).rstrip(",;:")
        if self.fix:
            text += f" ({self.fix})"
        # One line, always: newlines from library messages would break log parsing.
        return " ".join(text.split())


class InputNotFoundError(LivsegError):
    """A path the user gave does not exist."""

    exit_code = 3


class UnreadableInputError(LivsegError):
    """A file exists but cannot be read as the expected format (truncated, wrong type, ...)."""


class InvalidImageError(LivsegError):
    """An image was read but is not usable: not 3D, RGB, NaNs, empty, not HU, ..."""


class GeometryMismatchError(LivsegError):
    """Two volumes that must share a voxel grid do not."""


class DicomSeriesError(LivsegError):
    """A DICOM folder is ambiguous (several series) or broken (missing/duplicate slices)."""


class DatasetError(LivsegError):
    """A data-set folder does not have the layout or contents expected."""


class ConfigError(LivsegError):
    """A configuration file or option is invalid."""


class UnknownNameError(LivsegError):
    """A name looked up in a registry does not exist; the message lists the choices."""


class FetchError(LivsegError):
    """A sample could not be downloaded or unpacked."""


class OutputError(LivsegError):
    """An output could not be written."""
