"""Cohort throughput: the local engine and Ray with 1 and 2 workers, same cases, same run; and
what 100,000 scans would cost, from the measured per-case times.

Each engine runs ``python -m livseg predict COHORT -o OUT`` in a fresh process (start-up, model
load and, for Ray, starting a local Ray and its workers included) over the same cohort: CHAOS CT 1
(512x512x78, from ../shared/data), the TotalSegmentator example CT and life-size phantoms
(written once to a temporary folder). It prints wall time and cases per minute per engine,
checks that every engine wrote the same masks, and prints the per-case seconds the manifest
recorded.

The estimate for 100,000 scans multiplies measured per-case times: this CPU's steady-state
seconds per case (from the local engine's manifest, the mean over the cohort), and the GPU's
end-to-end seconds per CHAOS case (``--gpu-case-seconds``: measured with ``--device cuda``
when this machine has CUDA, else the figure recorded in bench/RESULTS.md for one H100: 2.1 s
end to end, of which network + CRF 0.75 s). Real cohorts' CTs are often larger than CHAOS
(NLST: about 100-300 slices of 512x512); ``--scale`` multiplies the per-case times for that.

Run::

    .venv/bin/python bench/batch.py [--phantoms 4] [--json out/batch.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: One H100, `livseg predict CHAOS --device cuda --timing` (bench/RESULTS.md, "End-to-end prediction").
H100_CASE_SECONDS = 2.1
H100_GPU_BUSY_SECONDS = 0.75


def write_cohort(folder: Path, phantoms: int, data_root: Path | None) -> list[str]:
    """CT files of the cohort in ``folder``; returns their case ids."""
    from livseg.io import write_volume
    from livseg.phantoms import generate_phantom

    folder.mkdir(parents=True)
    if data_root is not None:
        for name, source in (("chaos-ct-1", "chaos-ct-1/image.nii.gz"), ("totalseg-ct", "totalseg-example/ct.nii.gz")):
            if (data_root / source).is_file():
                shutil.copyfile(data_root / source, folder / f"{name}.nii.gz")
    for seed in range(phantoms):
        ct, _ = generate_phantom(100 + seed, size_xyz=(192, 160, 80), spacing_mm=(1.8, 1.8, 3.0))
        write_volume(ct, folder / f"phantom-{seed}.nii.gz")
    return sorted(p.name.removesuffix(".nii.gz") for p in folder.glob("*.nii.gz"))


def run_engine(cohort: Path, out: Path, extra: list[str]) -> float:
    """Wall seconds of one ``livseg predict`` process over the cohort."""
    command = [sys.executable, "-m", "livseg", "-q", "predict", str(cohort), "-o", str(out), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def case_seconds(out: Path) -> dict[str, float]:
    """{case: seconds of its stages} from a run's manifest (the latest record per case)."""
    seconds = {}
    for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        seconds[record["case_id"]] = sum((record.get("seconds") or {}).values())
    return seconds


def same_masks(a: Path, b: Path) -> bool:
    from livseg.io import read_volume

    names = sorted(p.name for p in a.glob("*.nii.gz"))
    return names == sorted(p.name for p in b.glob("*.nii.gz")) and all(
        np.array_equal(read_volume(a / n, kind="label").array, read_volume(b / n, kind="label").array) for n in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=4, help="life-size phantoms in the cohort (default 4)")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--gpu-case-seconds", type=float, default=None,
                        help=f"GPU seconds per case end to end (default: measured on CUDA, else {H100_CASE_SECONDS})")
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64], help="GPU counts for the estimate")
    parser.add_argument("--scale", type=float, default=2.0,
                        help="per-case time of a cohort CT over a CHAOS-size one (default 2: about 150-200 slices)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from livseg.datasets import shared_data_root
    from livseg.io.tables import format_table, write_json

    root = shared_data_root(args.data_root)
    work = Path(tempfile.mkdtemp(prefix="livseg-bench-batch-"))
    try:
        cohort = work / "cohort"
        ids = write_cohort(cohort, args.phantoms, root)
        print("command: bench/batch.py " + " ".join(sys.argv[1:]))
        print(f"cohort: {len(ids)} CTs ({', '.join(ids)}); {os.cpu_count()} CPUs; load before: "
              f"{os.getloadavg()[0]:.2f}")
        engines = [("local", []), ("ray, 1 worker x 2 threads", ["--engine", "ray", "--workers", "1",
                                                                 "--cpus-per-worker", "2"]),
                   ("ray, 2 workers x 1 thread", ["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1"])]
        rows = []
        outs = {}
        for name, extra in engines:
            out = work / f"out-{len(outs)}"
            seconds = run_engine(cohort, out, extra)
            outs[name] = out
            per_case = case_seconds(out)
            rows.append({"engine": name, "wall_s": seconds, "cases_per_min": 60.0 * len(ids) / seconds,
                         "mean_case_s": sum(per_case.values()) / len(per_case), "load": os.getloadavg()[0]})
            print(f"{name:<28}{seconds:8.1f} s  {rows[-1]['cases_per_min']:6.2f} cases/min  "
                  f"(mean {rows[-1]['mean_case_s']:.1f} s per case in its worker; load {rows[-1]['load']:.2f})",
                  flush=True)
        local = rows[0]
        for row in rows:
            row["vs_local"] = row["cases_per_min"] / local["cases_per_min"]
        print()
        print(format_table(rows, ["engine", "wall_s", "cases_per_min", "vs_local", "mean_case_s", "load"], digits=2,
                           left=1))
        identical = all(same_masks(outs["local"], out) for out in outs.values())
        print(f"masks identical across engines: {identical}")
        per_case = case_seconds(outs["local"])
        print("per case (local engine, s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_case.items())))

        cpu_case = local["mean_case_s"] * args.scale
        gpu_case = args.gpu_case_seconds
        gpu_source = "given"
        if gpu_case is None:
            import torch

            gpu_case, gpu_source = H100_CASE_SECONDS, "one H100, bench/RESULTS.md"
            if torch.cuda.is_available():
                chaos = cohort / "chaos-ct-1.nii.gz"
                if chaos.is_file():
                    started = time.perf_counter()
                    run_engine(chaos, work / "gpu.nii.gz", ["--device", "cuda"])
                    gpu_case, gpu_source = time.perf_counter() - started, "measured here, one process"
        gpu_case *= args.scale
        busy = H100_GPU_BUSY_SECONDS * args.scale
        n = 100_000
        print(f"\n100,000 scans (per-case times x{args.scale:g} for cohort-size CTs):")
        print(f"  CPU (this 2-core machine's steady state, {cpu_case:.1f} s per case): "
              f"{n * cpu_case / 3600:,.0f} machine-hours; on 1,000 such machines {n * cpu_case / 3600 / 1000:.1f} h")
        for gpus in args.gpus:
            one = n * gpu_case / gpus / 3600
            packed = n * busy / gpus / 3600
            print(f"  {gpus:>3} GPU(s): one worker per GPU ({gpu_case:.1f} s per case, {gpu_source}): {one:,.1f} h "
                  f"({n * gpu_case / 3600:,.0f} GPU-hours); GPU kept busy by 3+ CPU workers per GPU "
                  f"(--gpus-per-worker 0.33, network + CRF {busy:.2f} s per case): {packed:,.1f} h")
        if args.json:
            write_json({"rows": rows, "identical": identical, "per_case": per_case, "cpu_case_s": cpu_case,
                        "gpu_case_s": gpu_case, "gpu_source": gpu_source}, args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
