"""Package attributes imported on first use (PEP 562), so that importing a package, or a light
module inside it, does not import everything the package re-exports.

``livseg --help`` and ``--version`` must not pay for PyTorch, MONAI, SimpleITK or SciPy: a
package ``__init__`` that re-exports ``Segmenter`` would otherwise import all of them whenever
any of its modules is imported. Each package ``__init__`` names what it exports and where from::

    __getattr__, __dir__ = lazy_exports(__name__, {
        "livseg.inference.bundle": ("ModelBundle", "load_bundle"),
    })

``tests/test_import_layers.py`` reads these mappings as imports, so the layer rule covers them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping, Sequence


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package that exports ``exports``.

    Args:
        package: the package's ``__name__``.
        exports: {module: names it provides}.

    Returns:
        (``__getattr__``, ``__dir__``) to assign at module level; a name is imported from its
        module on first access and then kept in the package's namespace.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
