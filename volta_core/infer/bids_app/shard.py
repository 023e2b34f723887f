"""Which part of the scan list this process does: SLURM array task, ``--shard K/N``, torchrun rank.

No scheduler of our own: the cluster's scheduler (a SLURM array job) or ``torchrun`` starts the
processes, and each one takes every N-th scan of the same sorted list, starting at its index.
The parts are disjoint and together cover the list, so two processes never write the same file.

- ``--shard K/N`` is **1-based** (``1/4`` .. ``4/4``), like the task ids of ``sbatch --array=1-4``;
  it wins over the SLURM variables.
- A SLURM array task uses ``SLURM_ARRAY_TASK_ID`` relative to ``SLURM_ARRAY_TASK_MIN`` (and
  ``SLURM_ARRAY_TASK_STEP``) out of ``SLURM_ARRAY_TASK_COUNT``, so ``--array=0-9`` and
  ``--array=1-10`` both give 10 shards. Arrays must be a range (``A-B`` or ``A-B:S``).
- Under ``torchrun`` (``RANK``/``WORLD_SIZE``), every rank takes its part of the shard: with both,
  shard ``k`` of ``n`` and rank ``r`` of ``w`` is part ``k*w + r`` of ``n*w``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class ShardError(ValueError):
    """A bad ``--shard`` or inconsistent SLURM/torchrun variables (message says what to do)."""


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (0-based) of ``count``; ``why`` says where that came from."""

    index: int = 0
    count: int = 1
    why: str = ""

    def select(self, items: Sequence[T]) -> list[T]:
        """This part of ``items`` (which must be in the same order in every process)."""
        return list(items[self.index :: self.count])

    @property
    def first(self) -> bool:
        return self.index == 0

    def describe(self) -> str:
        return "all scans" if self.count == 1 else f"part {self.index + 1} of {self.count} ({self.why})"


@dataclass(frozen=True)
class RankPlacement:
    """Where a torchrun rank runs: ``local_rank`` picks the GPU, ``threads`` the CPU share."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def threads(self, cores: int | None = None) -> int:
        """CPU threads for this rank so that the node's ranks together use each core once."""
        cores = cores if cores is not None else usable_cores()
        return max(1, cores // max(1, self.local_world_size))


def usable_cores() -> int:
    """Cores this process may run on (the cgroup/affinity set that SLURM or taskset gives)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(1, 4)``: 0-based index and count from the 1-based ``K/N``.

    Raises:
        ShardError: not ``K/N`` with ``1 <= K <= N``.
    """
    k_text, sep, n_text = text.strip().partition("/")
    try:
        k, n = int(k_text), int(n_text)
    except ValueError:
        k = n = 0
    if not sep or n < 1 or not 1 <= k <= n:
        raise ShardError(f"--shard takes K/N with 1 <= K <= N (1-based, e.g. 1/4 .. 4/4), got {text!r}")
    return k - 1, n


def _int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ShardError(f"the environment variable {name}={value!r} is not a whole number") from None


def slurm_shard(env: Mapping[str, str]) -> Shard | None:
    """The shard of a SLURM array task, or ``None`` outside an array job."""
    task = _int(env, "SLURM_ARRAY_TASK_ID")
    if task is None:
        return None
    count = _int(env, "SLURM_ARRAY_TASK_COUNT")
    if count is None:
        return None  # an old SLURM without the count: the user must say --shard
    first = _int(env, "SLURM_ARRAY_TASK_MIN") or 0
    step = _int(env, "SLURM_ARRAY_TASK_STEP") or 1
    index, remainder = divmod(task - first, max(1, step))
    if count < 1 or remainder or not 0 <= index < count:
        raise ShardError(f"SLURM array task {task} is not task 0..{count - 1} of a range array (min {first}, "
                         f"step {step}, {count} tasks); submit with --array=A-B or pass --shard K/N")
    return Shard(index, count, f"SLURM array task {task}")


def rank_placement(env: Mapping[str, str]) -> RankPlacement:
    """The torchrun rank of this process (rank 0 of 1 when not launched by torchrun)."""
    world = _int(env, "WORLD_SIZE") or 1
    rank = _int(env, "RANK") or 0
    local_rank = _int(env, "LOCAL_RANK")
    local_world = _int(env, "LOCAL_WORLD_SIZE") or world
    if world < 1 or not 0 <= rank < world:
        raise ShardError(f"RANK={rank} is not a rank of WORLD_SIZE={world}")
    return RankPlacement(rank, world, rank if local_rank is None else local_rank, local_world)


def resolve_shard(shard_arg: str | None, env: Mapping[str, str] | None = None) -> tuple[Shard, RankPlacement]:
    """This process's part of the scan list, and its torchrun placement.

    Raises:
        ShardError: a bad ``--shard`` or inconsistent environment variables.
    """
    env = os.environ if env is None else env
    if shard_arg:
        index, count = parse_shard(shard_arg)
        base = Shard(index, count, f"--shard {shard_arg.strip()}")
    else:
        base = slurm_shard(env) or Shard()
    placement = rank_placement(env)
    if not placement.distributed:
        return base, placement
    why = f"torchrun rank {placement.rank} of {placement.world_size}"
    why = f"{base.why}, {why}" if base.count > 1 else why
    return Shard(base.index * placement.world_size + placement.rank, base.count * placement.world_size, why), placement
