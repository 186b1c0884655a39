"""The ``livseg`` command.

Each sub-command lives in its own module in this package and exposes::

    ORDER: int                                   # position in ``livseg --help``
    def register(subparsers) -> None             # adds its parser, set_defaults(func=run)

Modules are discovered automatically, so adding a command never edits this file.
Errors of the LivsegError family print one line and exit non-zero; ``--debug`` re-raises.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from typing import Sequence

# OpenMP threads that spin while waiting for work made 2-thread PyTorch runs 2-10x slower on a
# loaded 2-core machine (../shared/PERF-NOTES.md); passive waiting costs nothing when idle. It
# must be set before torch loads its OpenMP runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from livseg.version import __version__
from livseg.errors import LivsegError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livseg",
        description="Liver and liver-tumour segmentation of abdominal CT (3D DSN + dense CRF).",
    )
    parser.add_argument("--version", action="version", version=f"livseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or stage lines (they are shown only on a terminal anyway)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(subparsers)
    return parser


def typed_command(args: argparse.Namespace) -> str:
    """The command as the user typed it, quoted for a shell (recorded in provenance, manifests
    and tuning files); also right when run in-process or as ``python -m livseg``."""
    from livseg.reporting.provenance import command_line

    return "livseg " + command_line(getattr(args, "argv", sys.argv[1:]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by commands that log provenance
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except LivsegError as exc:
        if args.debug:
            raise
        print(f"livseg: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("livseg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: stop quietly, as Unix tools do.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # an unexpected failure still gets one line, not a traceback
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"livseg: internal error: {type(exc).__name__}: {message} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
