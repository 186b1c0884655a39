"""Benchmark: read time and peak memory of livseg.io per format, beside plain library readers.

Builds a CT-like int16 volume (default 512 x 512 x 300, 0.7 x 0.7 x 1.0 mm), writes it as
.nii, .nii.gz, .mha, .mhd + .raw, .nrrd, a DICOM series (one file per slice) and .mrc, then
for each file and each reader starts a fresh Python process that

* imports the reader, records its resident size (the baseline) and resets the kernel's
  high-water mark to it (``/proc/self/clear_refs``),
* reads the file ``--repeats`` times (best time reported), freeing the result in between,
* reports the peak resident memory above the baseline (``VmHWM`` - baseline, MB) and the
  time of the best read.

Why not ``ru_maxrss``: on Linux it survives ``exec``, so a child started by this (large)
process reports the parent's peak; ``VmHWM`` belongs to the child's own address space.

Readers: ``livseg`` = ``read_volume(path, kind="ct")`` (all checks included); peers, as a
user would call them: ``sitk`` = ``SimpleITK.ReadImage`` + ``GetArrayFromImage`` (series
reader for DICOM), ``pydicom`` = read every file, sort by position, stack with rescale,
``mrcfile`` = ``mrcfile.read``, ``nibabel`` = ``nibabel.load(...).get_fdata``-free
``np.asarray(dataobj)`` when nibabel is installed. Ratios are livseg / peer.

Run:  .venv/bin/python bench/io.py                     (about 2-4 minutes on 2 cores)
      .venv/bin/python bench/io.py --size 256 256 100  (quick look)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

SPACING_MM = (0.7, 0.7, 1.0)
ORIGIN_MM = (-179.0, -179.0, -300.0)


def ct_like_slice(z: int, n_z: int, ny: int, nx: int, rng: np.random.Generator) -> np.ndarray:
    """One axial slice (y, x) of int16 HU: air, body, liver-like region, spine, noise."""
    y, x = np.ogrid[-1:1:ny * 1j, -1:1:nx * 1j]
    t = z / max(n_z - 1, 1)
    body = (x / 0.85) ** 2 + (y / 0.65) ** 2 < 1.0
    liver = ((x + 0.35) / (0.35 + 0.1 * np.sin(3 * t))) ** 2 + ((y + 0.1) / 0.3) ** 2 < 1.0
    spine = (x ** 2 + (y - 0.45) ** 2) < 0.01
    hu = np.full((ny, nx), -1000.0, np.float32)
    hu[body] = -80.0
    hu[body & (np.abs(x) < 0.7)] = 40.0
    hu[liver & body] = 60.0
    hu[spine] = 700.0
    hu += rng.normal(0.0, 12.0, size=(ny, nx)).astype(np.float32)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def build_volume(size_xyz: tuple[int, int, int]) -> np.ndarray:
    nx, ny, nz = size_xyz
    rng = np.random.default_rng(0)
    array = np.empty((nz, ny, nx), np.int16)
    for z in range(nz):
        array[z] = ct_like_slice(z, nz, ny, nx, rng)
    return array


def write_all(array: np.ndarray, folder: Path) -> dict[str, tuple[Path, float]]:
    """Write every format; returns {format: (path, seconds to write)}."""
    import mrcfile
    from livseg.io import write_volume
    from livseg.volume import Geometry, Volume

    nz, ny, nx = array.shape
    volume = Volume(array, Geometry(size=(nx, ny, nz), spacing_mm=SPACING_MM, origin_mm=ORIGIN_MM),
                    source="bench")
    written: dict[str, tuple[Path, float]] = {}
    for key, name in (("nii", "ct.nii"), ("nii.gz", "ct.nii.gz"), ("mha", "ct.mha"),
                      ("mhd", "ct.mhd"), ("nrrd", "ct.nrrd")):
        start = time.perf_counter()
        written[key] = (write_volume(volume, folder / name, kind="ct"), time.perf_counter() - start)
    start = time.perf_counter()
    dicom_folder = write_dicom(array, folder / "dicom")
    written["dicom"] = (dicom_folder, time.perf_counter() - start)
    start = time.perf_counter()
    with mrcfile.new(folder / "ct.mrc", overwrite=True) as mrc:
        mrc.set_data(array)
    written["mrc"] = (folder / "ct.mrc", time.perf_counter() - start)
    return written


def write_dicom(array: np.ndarray, folder: Path) -> Path:
    """One uncompressed CT file per slice (stored value = HU + 1024, intercept -1024)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    for k in range(array.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.SeriesDescription, ds.InstanceNumber = "CT", "bench", k + 1
        ds.ImagePositionPatient = [ORIGIN_MM[0], ORIGIN_MM[1], ORIGIN_MM[2] + k * SPACING_MM[2]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [SPACING_MM[1], SPACING_MM[0]]
        ds.Rows, ds.Columns = array.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (array[k].astype(np.int32) + 1024).astype("<u2").tobytes()
        ds.save_as(folder / f"IM{k:04d}.dcm", enforce_file_format=True)
    return folder


# The child process: one reader, one file. It prints one JSON line.
CHILD = textwrap.dedent('''
    import gc, json, resource, sys, time
    reader, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import numpy as np
    if reader == "livseg":
        from livseg.io import read_volume
        read = lambda: read_volume(path, kind="ct").array
    elif reader == "sitk":
        import os, SimpleITK as sitk
        if os.path.isdir(path):
            def read():
                r = sitk.ImageSeriesReader()
                r.SetFileNames(r.GetGDCMSeriesFileNames(path))
                return sitk.GetArrayFromImage(r.Execute())
        else:
            read = lambda: sitk.GetArrayFromImage(sitk.ReadImage(path))
    elif reader == "pydicom":
        import os, pydicom
        def read():
            slices = [pydicom.dcmread(os.path.join(path, n)) for n in sorted(os.listdir(path))]
            slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
            out = np.empty((len(slices), slices[0].Rows, slices[0].Columns), np.int16)
            for k, d in enumerate(slices):
                out[k] = d.pixel_array.astype(np.int32) * int(d.RescaleSlope) + int(d.RescaleIntercept)
            return out
    elif reader == "mrcfile":
        import mrcfile
        read = lambda: mrcfile.read(path)
    elif reader == "nibabel":
        import nibabel
        read = lambda: np.asarray(nibabel.load(path).dataobj)
    def status_kb(key):
        try:
            with open("/proc/self/status") as handle:
                for line in handle:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
    gc.collect()
    base = status_kb("VmRSS")
    if base is not None:  # Linux: reset the high-water mark to the current size
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            pass
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        array = read()
        best = min(best, time.perf_counter() - start)
        shape, checksum = array.shape, int(array[::7, ::11, ::13].astype(np.int64).sum())
        del array
        gc.collect()
    peak = status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": best, "peak_mb": (peak - base) / 1024.0,
                      "shape": list(shape), "checksum": checksum}))
''')


def measure(reader: str, path: Path, repeats: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, reader, str(path), str(repeats)],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


PEERS = {
    "nii": ["sitk", "nibabel"], "nii.gz": ["sitk", "nibabel"], "mha": ["sitk"], "mhd": ["sitk"],
    "nrrd": ["sitk"], "dicom": ["sitk", "pydicom"], "mrc": ["mrcfile"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", nargs=3, type=int, default=(512, 512, 300), metavar=("X", "Y", "Z"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--workdir", type=Path, default=None, help="where to write (default: a temp folder)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="livseg-bench-io-", dir=args.workdir))
    try:
        start = time.perf_counter()
        array = build_volume(tuple(args.size))
        print(f"volume {args.size[0]}x{args.size[1]}x{args.size[2]} int16 "
              f"({array.nbytes / 2**20:.0f} MB), spacing {SPACING_MM} mm, built in "
              f"{time.perf_counter() - start:.1f} s; {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}, repeats {args.repeats}")
        reference = int(array[::7, ::11, ::13].astype(np.int64).sum())
        written = write_all(array, workdir)
        del array
        header = (f"{'format':<8} {'size MB':>8} {'write s':>8} {'livseg s':>9} {'peak MB':>8}   "
                  f"{'peer':<8} {'peer s':>7} {'peer MB':>8} {'time x':>7} {'mem x':>6}")
        print(header)
        print("-" * len(header))
        for key, (path, write_s) in written.items():
            if key not in args.formats:
                continue
            size_mb = (sum(p.stat().st_size for p in path.iterdir()) if path.is_dir()
                       else path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob("ct.raw")
                                                      if key == "mhd")) / 2**20
            ours = measure("livseg", path, args.repeats)
            if "error" in ours:
                print(f"{key:<8} livseg failed: {ours['error']}")
                continue
            ok = "" if ours["checksum"] == reference else "  (CHECKSUM MISMATCH)"
            first = True
            for peer in PEERS[key]:
                if peer == "nibabel" and importlib.util.find_spec("nibabel") is None:
                    continue
                theirs = measure(peer, path, args.repeats)
                left = (f"{key:<8} {size_mb:>8.0f} {write_s:>8.2f} {ours['seconds']:>9.2f} "
                        f"{ours['peak_mb']:>8.0f}" if first else " " * 45)
                if "error" in theirs:
                    print(f"{left}   {peer:<8} failed: {theirs['error']}{ok}")
                else:
                    print(f"{left}   {peer:<8} {theirs['seconds']:>7.2f} {theirs['peak_mb']:>8.0f} "
                          f"{ours['seconds'] / theirs['seconds']:>7.2f} "
                          f"{ours['peak_mb'] / max(theirs['peak_mb'], 1e-9):>6.2f}{ok}")
                first = False
        print("time x / mem x: livseg divided by the peer (below 1: livseg faster / leaner). "
              "livseg reads with kind='ct' (all checks).")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
