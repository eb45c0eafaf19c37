"""Work spread over processes and machines by torchrun, the launcher training already uses.

    torchrun --nnodes N --nproc_per_node K -m eval ...     # the evaluator: rank 0 merges the rows
    torchrun --nproc_per_node K -m deblur FOLDER -o OUT -m NAME   # the CLI: each rank its files

torchrun sets RANK and WORLD_SIZE (and MASTER_ADDR / MASTER_PORT) for every process; without them
everything here is the single process it always was: rank 0 of 1, no process group.

The evaluator needs a little communication (rank 0 checks the output folder and hands every rank
the rows already written, then gathers their new rows), which goes through torch.distributed
with the gloo backend: it runs on CPUs and over plain TCP, so no shared file system is needed.
Ranks finish their shares at different times and rank 0 waits for the slowest in the gather, so
the collectives get a long timeout (TIMEOUT, or $DEBLUR_DIST_TIMEOUT_S seconds); a rank that
crashes is noticed by torchrun, which stops the others.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeVar

import torch.distributed as dist

from deblur.errors import DeblurError

T = TypeVar("T")
TIMEOUT = timedelta(days=2)  # one share of a large test set may take many hours


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's RANK / WORLD_SIZE; (0, 1) when they are not set."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise DeblurError(f"RANK / WORLD_SIZE must be whole numbers, got {os.environ.get('RANK')!r} / "
                          f"{os.environ.get('WORLD_SIZE')!r}") from None
    if size < 1 or not 0 <= rank < size:
        raise DeblurError(f"RANK {rank} does not fit WORLD_SIZE {size} (torchrun sets both)")
    return rank, size


def share(items: list[T], rank: int, size: int) -> list[T]:
    """The items of one rank: every size-th, starting at rank (so the ranks' loads stay even when
    similar items sit together, e.g. the frames of one clip)."""
    return items[rank::size]


@contextlib.contextmanager
def process_group() -> Iterator[bool]:
    """A gloo process group for the duration of the block when WORLD_SIZE > 1 (yields True), else
    nothing (yields False). A group made elsewhere is used and left alone."""
    _, size = world()
    if size == 1 or dist.is_initialized():
        yield dist.is_initialized()
        return
    if "MASTER_ADDR" not in os.environ:
        raise DeblurError("WORLD_SIZE > 1 but MASTER_ADDR is not set: start the processes with torchrun")
    seconds = os.environ.get("DEBLUR_DIST_TIMEOUT_S")
    timeout = timedelta(seconds=float(seconds)) if seconds else TIMEOUT
    dist.init_process_group("gloo", timeout=timeout)
    try:
        yield True
    finally:
        dist.destroy_process_group()


def broadcast(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (picklable); the object itself without a group."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather(obj: Any, dst: int = 0) -> list[Any] | None:
    """Every rank's ``obj`` as a list by rank on rank ``dst`` (None on the others); [obj] without a group."""
    if not dist.is_initialized():
        return [obj]
    rank = dist.get_rank()
    out: list[Any] | None = [None] * dist.get_world_size() if rank == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
