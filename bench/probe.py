"""Replay the failures a user probe found (issue #12), each through the real ``livseg`` command,
and print one line per probe: what happened and whether it is what a careful tool does.

    .venv/bin/python bench/probe.py [--data ../shared/data] [--keep DIR]

Probes (each in its own temporary folder):

* disk-full: ``predict --save-probabilities`` onto a 2 MB file system (a tmpfs when this
  process may mount one, else a 2 MB file-size limit) over a good mask already there;
* nan: a NIfTI with a few NaN voxels (predict must refuse, naming the count) and one of all NaN
  (info must count them);
* nrrd-header: an 8 KB NRRD whose header announces 2000^3 voxels (info must refuse at once);
* anonymised-seg: ``--output-format dicom-seg`` on the shared TotalSegmentator series, whose
  SOP/study/series UIDs are empty;
* read-only: ``predict`` into a read-only folder (must fail before inference, in one line);
* cwd-shadow: ``predict --model default`` in a folder holding a ``default/best.pt`` that is not
  a model (the packaged model must be used).

Needs ``../shared/data`` (CHAOS and the TotalSegmentator example). Exit status 1 when a probe
does not behave.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def livseg(*args: object, cwd: Path | None = None, file_limit: int | None = None,
           timeout: float = 600) -> tuple[int, str, str, float]:
    """Run ``python -m livseg ARGS`` (exit code, stdout, stderr, seconds)."""
    def limit() -> None:
        if file_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "livseg", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", cwd=cwd, timeout=timeout, preexec_fn=limit)
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - started


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


@contextlib.contextmanager
def small_file_system(folder: Path, size: str = "2m") -> Iterator[tuple[Path, str]]:
    """A folder on a tiny tmpfs when mounting is allowed (root), else the folder itself, for a
    file-size limit instead; yields (folder, how)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                 capture_output=True).returncode == 0
    try:
        yield folder, f"tmpfs {size}" if mounted else "2 MB file-size limit"
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], capture_output=True)


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[tuple[Path, str]]:
    """A read-only folder: a read-only tmpfs as root (root ignores permissions), else mode 0555."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                                 capture_output=True).returncode == 0
    if not mounted:
        folder.chmod(0o555)
    try:
        yield folder, "read-only tmpfs" if mounted else "mode 0555"
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], capture_output=True)
        else:
            folder.chmod(0o755)


def probe_disk_full(work: Path, data: Path) -> tuple[bool, str]:
    ct = data / "chaos-ct-1" / "image.nii.gz"
    with small_file_system(work / "small") as (small, how):
        good = small / "mask.nii.gz"
        code, _, err, _ = livseg("predict", ct, "-o", good, "--no-crf")
        if code != 0:  # the mask alone may not fit either: then the first write must fail cleanly
            clean = not good.exists() and not [p for p in small.iterdir() if p.name.startswith(".")]
            return code != 0 and clean, f"({how}) first write: exit {code}, {last_line(err)[:160]}; nothing left: {clean}"
        before = good.read_bytes()
        code, _, err, _ = livseg("predict", ct, "-o", good, "--no-crf", "--save-probabilities",
                                 file_limit=None if how.startswith("tmpfs") else 2_000_000)
        intact = good.read_bytes() == before
        leftovers = [p.name for p in small.iterdir() if p.name.startswith(".")]
        ok = code != 0 and intact and not leftovers and "Traceback" not in err
        return ok, (f"({how}) exit {code}; old mask intact: {intact}; partial files left: {len(leftovers)}; "
                    f"{last_line(err)[:200]}")


def probe_nan(work: Path, data: Path) -> tuple[bool, str]:
    from livseg.io import read_volume, write_volume

    ct = read_volume(data / "chaos-ct-1" / "image.nii.gz", kind="ct")
    array = ct.array.astype(np.float32)
    array[40, 100:110, 100:110] = np.nan
    partly = write_volume(ct.with_array(array, kind="any"), work / "partly-nan.nii.gz")
    write_volume(ct.with_array(np.full(array.shape, np.nan, np.float32), kind="any"), work / "all-nan.nii.gz")
    code, _, err, _ = livseg("predict", partly, "-o", work / "mask.nii.gz", "--no-crf")
    refused = code != 0 and "100 NaN" in err and not (work / "mask.nii.gz").exists()
    icode, out, _, _ = livseg("info", work / "all-nan.nii.gz")
    counted = icode == 0 and f"{array.size} NaN" in out
    return refused and counted, (f"partly NaN: predict exit {code}, {last_line(err)[:150]}; all NaN: info "
                                 f"{next((l for l in out.splitlines() if 'non-finite' in l), 'no count').strip()}")


def probe_nrrd_header(work: Path, data: Path) -> tuple[bool, str]:
    header = ("NRRD0004\ntype: short\ndimension: 3\nsizes: 2000 2000 2000\nspace: left-posterior-superior\n"
              "space directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (0,0,0)\nencoding: raw\nendian: little\n\n")
    path = work / "huge.nrrd"
    path.write_bytes(header.encode("ascii") + b"\0" * 8000)
    code, _, err, seconds = livseg("info", path)
    baseline = livseg("--version")[3]
    ok = code != 0 and "16000000000" in err
    return ok, f"exit {code} in {seconds:.1f} s (livseg --version: {baseline:.1f} s); {last_line(err)[:160]}"


def probe_anonymised_seg(work: Path, data: Path) -> tuple[bool, str]:
    series = data / "totalseg-example" / "dicom"
    seg = work / "seg.dcm"
    code, out, err, _ = livseg("predict", series, "-o", seg, "--no-crf")
    if code != 0:
        return False, f"exit {code}: {last_line(err)[:200]}"
    icode, info, _, _ = livseg("info", seg)
    warned = "anonymised" in err
    return icode == 0 and warned, (f"exit {code}, warning given: {warned}; {last_line(out)}; reads back: "
                                   f"{'yes' if icode == 0 else 'no'}")


def probe_read_only(work: Path, data: Path) -> tuple[bool, str]:
    ct = data / "chaos-ct-1" / "image.nii.gz"
    with read_only_folder(work / "readonly") as (folder, how):
        code, _, err, seconds = livseg("predict", ct, "-o", folder / "mask.nii.gz")
        lines = [line for line in err.splitlines() if line.strip()]
    ok = code != 0 and len(lines) == 1 and "internal error" not in err
    return ok, f"({how}) exit {code} after {seconds:.1f} s (process start included); {last_line(err)[:180]}"


def probe_cwd_shadow(work: Path, data: Path) -> tuple[bool, str]:
    ct = data / "chaos-ct-1" / "image.nii.gz"
    (work / "default").mkdir()
    (work / "default" / "best.pt").write_bytes(b"not a model")
    code, out, err, _ = livseg("predict", ct, "-o", work / "out" / "mask.nii.gz", "--no-crf", "--model", "default",
                               cwd=work)
    ok = code == 0 and "liver 0.0 mL" not in out and "./default" in err
    return ok, f"exit {code}; {last_line(out)[:120]}; warning: {last_line(err)[:120]}"


PROBES: dict[str, Callable[[Path, Path], tuple[bool, str]]] = {
    "disk-full": probe_disk_full, "nan": probe_nan, "nrrd-header": probe_nrrd_header,
    "anonymised-seg": probe_anonymised_seg, "read-only": probe_read_only, "cwd-shadow": probe_cwd_shadow,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--only", nargs="*", choices=sorted(PROBES), help="run these probes only")
    args = parser.parse_args()
    if not (args.data / "chaos-ct-1").is_dir():
        print(f"probe: skipped: {args.data} has no chaos-ct-1 (the shared data)")
        return 0
    failed = 0
    for name, probe in PROBES.items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory(prefix=f"livseg-probe-{name}-") as folder:
            ok, what = probe(Path(folder), args.data)
        failed += not ok
        print(f"probe {name:<15} {'OK  ' if ok else 'FAIL'} {what}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
