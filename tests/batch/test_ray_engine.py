"""``livseg predict --engine ray``: a real local Ray (2 CPUs), real worker processes.

The model is the fixed-weight threshold network of tests/inference/inference_helpers.py saved
as a bundle: its masks are a known function of the image, so local and Ray masks can be
compared voxel for voxel.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dev]' installs it)")

from livseg.batch import expand_inputs, plan_outputs  # noqa: E402
from livseg.batch.ray_engine import run_ray  # noqa: E402
from livseg.batch.runner import CaseOptions  # noqa: E402
from livseg.batch.spec import SegmenterSpec  # noqa: E402
from livseg.io import read_volume, write_volume  # noqa: E402
from livseg.phantoms import generate_phantom  # noqa: E402

#: The test network's module (tests/batch/conftest.py puts it on the driver's path).
HELPERS = Path(__file__).resolve().parents[1] / "inference"


@pytest.fixture(autouse=True)
def workers_find_the_test_network(monkeypatch):
    """Ray's worker processes import the test network's module as the driver does."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HELPERS), os.environ.get("PYTHONPATH")])))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Four phantom CTs of different sizes, two formats."""
    folder = tmp_path_factory.mktemp("cohort")
    for seed, size, suffix in ((1, (96, 80, 40), ".nii.gz"), (2, (80, 96, 32), ".mha"),
                               (3, (112, 96, 48), ".nii.gz"), (4, (64, 64, 24), ".nrrd")):
        ct, _ = generate_phantom(seed, size_xyz=size)
        write_volume(ct, folder / f"case{seed}{suffix}")
    return folder


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: read_volume(p, kind="label").array for p in sorted(folder.glob("case*.nii.gz"))}


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_ray_gives_the_local_masks_records_a_corrupt_case_and_resumes(run_cli, model, cohort, tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    for path in cohort.iterdir():
        (cases / path.name).write_bytes(path.read_bytes())
    (cases / "corrupt.nii.gz").write_bytes(b"\x1f\x8b not really a volume")
    code, _, stderr = run_cli("predict", cases, "-o", tmp_path / "local", "--model", model)
    assert code != 0 and "corrupt" in stderr
    code, stdout, stderr = run_cli("predict", cases, "-o", tmp_path / "ray", "--model", model, "--engine", "ray",
                                   "--workers", "2")
    assert code != 0, stdout  # one case failed: the exit status says so ...
    assert "corrupt: " in stderr and "1 of 5 cases failed: corrupt" in stderr
    local, on_ray = _masks(tmp_path / "local"), _masks(tmp_path / "ray")
    assert sorted(on_ray) == ["case1.nii.gz", "case2.nii.gz", "case3.nii.gz", "case4.nii.gz"]  # ... the rest finished
    assert all(local[name].any() for name in local)
    for name in local:
        np.testing.assert_array_equal(on_ray[name], local[name], err_msg=name)
    records = {r["case_id"]: r for r in _records(tmp_path / "ray")}
    assert sorted(records) == ["case1", "case2", "case3", "case4", "corrupt"]
    assert records["corrupt"]["status"] == "failed" and "corrupt.nii.gz" in records["corrupt"]["error"]
    assert {records[c]["status"] for c in ("case1", "case2", "case3", "case4")} == {"ok"}
    assert all(records[c]["attempts"] == 1 for c in records)

    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ray").glob("case*.nii.gz")}
    code, stdout, _ = run_cli("predict", cases, "-o", tmp_path / "ray", "--model", model, "--engine", "ray")
    status = {line.split()[0]: line.split()[1] for line in stdout.splitlines()[1:] if line.strip()}
    assert status == {"case1": "skipped", "case2": "skipped", "case3": "skipped", "case4": "skipped",
                      "corrupt": "failed"}
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ray").glob("case*.nii.gz")} == stamps
    code, stdout, _ = run_cli("predict", cases, "-o", tmp_path / "ray", "--model", model, "--engine", "ray",
                              "--overwrite")
    status = {line.split()[0]: line.split()[1] for line in stdout.splitlines()[1:] if line.strip()}
    assert set(status.values()) == {"ok", "failed"} and status["corrupt"] == "failed"
    assert all(p.stat().st_mtime_ns != stamps[p.name] for p in (tmp_path / "ray").glob("case*.nii.gz"))


def _kill_first_busy_worker(pids: set[int], killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the first worker process seen running a case (Ray titles it ``ray::CaseWorker.run``)."""
    while not stop.is_set() and not killed:
        for pid in list(pids):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::CaseWorker.run"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.005)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the worker processes")
def test_a_worker_killed_mid_case_is_restarted_and_its_case_retried(model, cohort, tmp_path):
    cases = expand_inputs([cohort])
    spec = SegmenterSpec(model=str(model))
    local = spec.build()
    from livseg.batch.runner import run_local

    run_local(local, cases, plan_outputs(tmp_path / "local", None, len(cases)))
    pids: set[int] = set()
    killed: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_first_busy_worker, args=(pids, killed, stop), daemon=True)

    def started(workers: list[dict]) -> None:
        pids.update(w["pid"] for w in workers)
        watcher.start()

    out = tmp_path / "ray"
    try:
        results = run_ray(spec, cases, plan_outputs(out, None, len(cases)), CaseOptions(), workers=2,
                          on_start=started, manifest=out, num_cpus=2)
    finally:
        stop.set()
    assert len(killed) == 1  # a worker really died under a case
    assert [r.status for r in results] == ["ok"] * 4
    assert sorted(r.attempts for r in results) == [1, 1, 1, 2]  # the killed worker's case ran again
    local_masks, ray_masks = _masks(tmp_path / "local"), _masks(out)
    assert sorted(ray_masks) == sorted(local_masks)
    for name in local_masks:
        np.testing.assert_array_equal(ray_masks[name], local_masks[name], err_msg=name)
    records = _records(out)
    assert sorted(r["case_id"] for r in records) == ["case1", "case2", "case3", "case4"]  # one line per case
    assert sorted(r["attempts"] for r in records) == [1, 1, 1, 2]


def test_engine_options_need_the_ray_engine_and_a_bad_model_fails_before_the_cluster(run_cli, model, cohort,
                                                                                    tmp_path):
    code, _, stderr = run_cli("predict", cohort, "-o", tmp_path / "o", "--model", model, "--workers", "2")
    assert code == 2 and "--workers" in stderr and "--engine ray" in stderr
    code, _, stderr = run_cli("predict", cohort, "-o", tmp_path / "o", "--model", model, "--engine", "ray",
                              "--workers", "0")
    assert code == 2 and "--workers" in stderr
    code, _, stderr = run_cli("predict", cohort, "-o", tmp_path / "o", "--model", tmp_path / "nope.pt",
                              "--engine", "ray")
    assert code != 0 and "nope.pt" in stderr and len(stderr.strip().splitlines()) == 1
    assert not ray.is_initialized()
    # A model that loads on the driver but not on the workers (no GPU there) stops the run
    # before any case, with the worker's own one-line error.
    code, _, stderr = run_cli("predict", cohort, "-o", tmp_path / "gpu", "--model", model, "--engine", "ray",
                              "--workers", "1", "--device", "cuda")
    if code == 0:
        pytest.skip("this machine has a CUDA GPU: the workers could use it")
    assert code == 2 and "worker on" in stderr and "CUDA" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "gpu").exists() or not any((tmp_path / "gpu").glob("case*"))
