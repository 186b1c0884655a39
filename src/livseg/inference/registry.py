"""Named model bundles: ``--model NAME_OR_PATH``.

A name is a bundle file packaged with livseg in ``src/livseg/models/weights/``:
``NAME.safetensors`` or ``NAME.pt`` (the package ships a ``default`` model there once it has
been trained). A liver model ``NAME`` may come with a tumour model ``NAME-tumour``, which the
tumour cascade uses unless another is given. Anything that is not a name is a path: a
checkpoint, a bundle file or a run folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from livseg.errors import InputNotFoundError, UnknownNameError
from livseg.inference.bundle import BUNDLE_SUFFIXES

logger = logging.getLogger(__name__)

#: Where packaged bundles live.
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "models" / "weights"
DEFAULT_MODEL = "default"
TUMOUR_SUFFIX = "-tumour"


def available_models(folder: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """{name: file} of the bundles in ``folder`` (default: the packaged weights), sorted by name.

    A name with both a .safetensors and a .pt file maps to the .safetensors one.
    """
    root = Path(folder) if folder is not None else WEIGHTS_DIR
    found: dict[str, Path] = {}
    if root.is_dir():
        for suffix in BUNDLE_SUFFIXES:  # (".pt", ".safetensors"): the .safetensors file wins
            for path in root.glob(f"*{suffix}"):
                if path.is_file() and not path.name.startswith("."):
                    found[path.name[: -len(suffix)]] = path
    return dict(sorted(found.items()))


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.lower().endswith(BUNDLE_SUFFIXES) or text.startswith(".")


def resolve_model(name_or_path: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None
                  ) -> tuple[str, Path]:
    """(name, path) of a model given by registry name or by path.

    A bare word that names a packaged model is that model, even when a file or folder of the
    same name exists in the working directory (an empty ``default/`` left by ``-o default``
    must not replace the packaged model); such a path is taken when written as a path
    (``./default``), and the shadowed path is named in a warning. Anything else that exists is
    a path.

    Raises:
        InputNotFoundError: a path that does not exist.
        UnknownNameError: a name that is not packaged; the message lists the available ones.
    """
    text = str(name_or_path)
    path = Path(text)
    models = available_models(folder)
    if not _looks_like_path(text) and text in models:
        if path.exists():
            logger.warning("model %r: using the packaged model %s, not %s in the working directory "
                           "(write ./%s for that one)", text, models[text], path.resolve(), text)
        return text, models[text]
    if path.exists():
        return path.name, path
    if _looks_like_path(text):
        raise InputNotFoundError(path, expected="a model checkpoint (.pt), bundle (.safetensors) or run folder",
                                 found="nothing at that path")
    names = ", ".join(models) if models else "none are installed"
    raise UnknownNameError(
        text, expected=f"a packaged model name ({names}) or the path of a checkpoint, bundle or run folder",
        found="no such model",
        fix="train one with `livseg train CONFIG` and pass --model RUN_DIR/best.pt")


def is_packaged(path: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None) -> bool:
    """True when ``path`` is a bundle of ``folder`` (default: the packaged weights)."""
    root = Path(folder) if folder is not None else WEIGHTS_DIR
    return Path(path).resolve().parent == root.resolve()


def companion_tumour_model(name: str, folder: str | os.PathLike[str] | None = None) -> Path | None:
    """The packaged tumour bundle ``NAME-tumour`` of a liver model ``NAME``, if there is one."""
    return available_models(folder).get(f"{name}{TUMOUR_SUFFIX}")
