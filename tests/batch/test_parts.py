"""``--num-parts 3 --part-id 0..2`` covers every case exactly once, in three processes' worth of
runs sharing one output folder and manifest."""

from __future__ import annotations

import json

from livseg.io import write_volume
from livseg.phantoms import generate_phantom


def test_three_parts_partition_the_cohort_exactly_once(run_cli, model, tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    names = ["e", "a", "d", "b", "g", "c", "f"]  # not in sorted order on purpose
    for seed, name in enumerate(names):
        ct, _ = generate_phantom(seed, size_xyz=(40, 32, 16))
        write_volume(ct, cohort / f"{name}.nii.gz")
    out = tmp_path / "out"
    parts = []
    for part in range(3):
        code, _, stderr = run_cli("predict", cohort, "-o", out, "--model", model, "--no-crf",
                                  "--num-parts", "3", "--part-id", str(part))
        assert code == 0, stderr
        records = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
        parts.append(sorted(r["case_id"] for r in records[sum(len(p) for p in parts):]))
    assert parts == [["a", "d", "g"], ["b", "e"], ["c", "f"]]  # every third of the sorted ids
    assert sorted(c for p in parts for c in p) == sorted(names)  # each case once, none left out
    assert sorted(p.name for p in out.glob("*.nii.gz")) == sorted(f"{n}.nii.gz" for n in names)
