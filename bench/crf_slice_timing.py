"""Time livseg's dense CRF on one noisy 512^2 slice, for A/B runs of two versions of the code.

    .venv/bin/python bench/crf_slice_timing.py after
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/crf_slice_timing.py before

Prints the best and the median (of all runs but the first 10) wall time of ``dense_crf`` in
2D mode with the default parameters. Alternate the two versions in separate processes, several
times: on a shared 2-core machine the same code varies by 30 % from run to run.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch

from livseg.crf import CrfParams, dense_crf


def main() -> int:
    label = sys.argv[1] if len(sys.argv) > 1 else "livseg"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:512, :512]
    disc = ((y - 256) ** 2 + (x - 256) ** 2) < 150 ** 2
    image = (np.where(disc, 100.0, -50.0)[None] + rng.normal(0, 20, (1, 512, 512))).astype(np.float32)
    p = np.clip(np.where(disc, 0.7, 0.3)[None] + rng.normal(0, 0.15, (1, 512, 512)), 0.01, 0.99)
    prob = np.stack([1 - p, p]).astype(np.float32)
    times = []
    with torch.inference_mode():
        for _ in range(runs):
            started = time.perf_counter()
            dense_crf(prob, image, (0.7, 0.7, 2.0), CrfParams(), mode="2d")
            times.append(time.perf_counter() - started)
    print(f"{label}: best {min(times) * 1000:.1f} ms, median {statistics.median(times[10:]) * 1000:.1f} ms "
          f"({runs} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
