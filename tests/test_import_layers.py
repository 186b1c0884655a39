"""The package's import rule (docs/ARCHITECTURE.md): lower layers never import higher ones, and
no module takes part in an import cycle.

The imports are read from the source with ``ast`` (module-level and function-level imports
alike: a lazy upward import is still an upward import), so the test needs nothing installed
but the source tree.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "livseg"

#: Layer of each top-level part of the package, lowest first. A module may import its own
#: layer (without cycles) and the layers below it, never one above.
LAYERS: dict[str, int] = {
    "errors": 0, "volume": 0, "version": 0, "lazy": 0, "schema": 0,
    "io": 1,
    "config": 2, "preprocessing": 2,
    "phantoms": 3, "datasets": 3,
    "models": 4, "losses": 4, "crf": 4, "postprocessing": 4,
    "inference": 5,
    "training": 6, "tuning": 6, "metrics": 6,
    "batch": 7,
    "reporting": 8,
    "cli": 9, "__main__": 9, "api": 9,
    # The package's own __init__ is the public facade: it may re-export anything, and nothing
    # inside the package imports it (``from livseg import X`` from a submodule is upward).
    "": 10,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """livseg modules that ``name`` imports (``from pkg import submodule`` counts the submodule)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports":
            # lazy_exports(__name__, {"livseg.x.y": (...)}): the modules a package exports from
            for mapping in node.args[1:2]:
                if isinstance(mapping, ast.Dict):
                    found.update(k.value for k in mapping.keys
                                 if isinstance(k, ast.Constant) and str(k.value).split(".")[0] == "livseg")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "livseg")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "livseg":
                continue
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known)
    return {m for m in found if m in known and m != name}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_every_part_of_the_package_has_a_layer() -> None:
    unknown = sorted({_part(m) for m in _modules()} - set(LAYERS))
    assert not unknown, f"give these parts a layer in LAYERS (and docs/ARCHITECTURE.md): {unknown}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for module, targets in sorted(_graph().items()):
        for target in sorted(targets):
            if LAYERS.get(_part(target), 0) > LAYERS.get(_part(module), 0):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports:\n  " + "\n  ".join(upward)


def test_no_import_cycles_between_modules() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycles_between_parts() -> None:
    parts: dict[str, set[str]] = defaultdict(set)
    for module, targets in _graph().items():
        parts[_part(module)].update(_part(t) for t in targets if _part(t) != _part(module))
    cycles = _cycles({p: parts.get(p, set()) for p in {_part(m) for m in _modules()}})
    assert not cycles, "cycles between parts of the package:\n  " + "\n  ".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    """The rules above can fail: a made-up graph with one of each is caught."""
    graph = {"livseg.io.a": {"livseg.inference.b"}, "livseg.inference.b": {"livseg.io.a"}}
    assert _cycles(graph) == [["livseg.inference.b", "livseg.io.a"]]
    assert LAYERS[_part("livseg.inference.b")] > LAYERS[_part("livseg.io.a")]
    module = tmp_path / "livseg" / "io" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("from livseg.inference import segmenter\nfrom . import y\n", encoding="utf-8")
    (module.parent / "y.py").write_text("", encoding="utf-8")
    known = {"livseg.inference", "livseg.inference.segmenter", "livseg.io.x", "livseg.io.y"}
    assert _imports("livseg.io.x", module, known) == {"livseg.inference", "livseg.inference.segmenter", "livseg.io.y"}
    lazy = tmp_path / "livseg" / "io" / "__init__.py"
    lazy.write_text("from livseg.lazy import lazy_exports\n"
                    "__getattr__, __dir__ = lazy_exports(__name__, {'livseg.inference.segmenter': ('Segmenter',)})\n",
                    encoding="utf-8")
    assert "livseg.inference.segmenter" in _imports("livseg.io", lazy, known | {"livseg.lazy"})

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q"]))
