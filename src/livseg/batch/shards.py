"""Split a cohort into parts, one per process or array job, without a cluster engine.

``livseg predict ... --num-parts N --part-id K`` keeps the cases whose position in the list
sorted by case id is K modulo N, so every part is fixed by the inputs alone (the same command on
N machines covers every case once). Without the options, the part comes from the environment
of the launcher: a SLURM array job (``SLURM_ARRAY_TASK_COUNT``, ``SLURM_ARRAY_TASK_ID`` minus
``SLURM_ARRAY_TASK_MIN``) or torchrun (``WORLD_SIZE``, ``RANK``).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence, TypeVar

from livseg.errors import ConfigError

Case = TypeVar("Case")


def check_part(num_parts: int, part_id: int, *, where: str = "--num-parts/--part-id") -> None:
    """ConfigError unless 1 <= num_parts and 0 <= part_id < num_parts."""
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise ConfigError(where, expected="num-parts >= 1 and 0 <= part-id < num-parts",
                          found=f"num-parts {num_parts}, part-id {part_id}")


def part_from_environment(env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """(number of parts, this part) from a SLURM array job or torchrun, or None outside them."""
    env = os.environ if env is None else env
    try:
        if "SLURM_ARRAY_TASK_COUNT" in env and "SLURM_ARRAY_TASK_ID" in env:
            count = int(env["SLURM_ARRAY_TASK_COUNT"])
            part = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
            check_part(count, part, where="SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT")
            return count, part
        if "WORLD_SIZE" in env and "RANK" in env:
            count, part = int(env["WORLD_SIZE"]), int(env["RANK"])
            check_part(count, part, where="RANK / WORLD_SIZE")
            return count, part
    except ValueError as exc:
        raise ConfigError("the launcher's environment", expected="integer task ids and counts",
                          found=str(exc)) from exc
    return None


def select_part(cases: Sequence[Case], num_parts: int, part_id: int, *, key=lambda case: case.case_id
                ) -> list[Case]:
    """The cases of part ``part_id`` of ``num_parts``: every ``num_parts``-th case of the list sorted
    by ``key`` (the case id), starting at ``part_id``; in that sorted order."""
    check_part(num_parts, part_id)
    ordered = sorted(cases, key=key)
    return [case for index, case in enumerate(ordered) if index % num_parts == part_id]
