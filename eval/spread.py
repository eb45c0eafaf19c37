"""Scoring spread over processes and machines: each rank scores its share, rank 0 merges the rows.

    torchrun --nnodes N --nproc_per_node K -m eval --dataset gopro:DIR --blur motion --out DIR

deblur.distributed gives every process its rank; the dataset is shared out item by item (rank r
takes every world-size-th item from the r-th, eval.inputs.open_items). A rank appends its rows to
its own part file beside per_image.csv, ``per_image.part-R-of-W.csv``: the same columns plus
``index``, the item's position in the whole dataset, and as resumable as per_image.csv (an
interrupted run started again with the same world size skips the rows its parts already hold).
At the end rank 0 gathers every part (over the process group, so the machines need no shared
folder), appends the rows that per_image.csv does not hold yet in dataset order -- exactly the
order one process writes them -- and writes the leaderboard from the whole file, as one process
does. Then each rank deletes its part. Only the ``seconds`` column differs from a one-process run.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from deblur.errors import DatasetError

from eval.rowlog import RowLog

INDEX = "index"  # the extra column of a part file: the item's position in the whole dataset


def part_path(out: Path, rank: int, world: int) -> Path:
    return Path(out) / f"per_image.part-{rank}-of-{world}.csv"


def part_log(out: Path, rank: int, world: int, columns: Sequence[str], key: Sequence[str]) -> RowLog:
    """The RowLog of one rank's rows (``columns`` + INDEX), checked and with a torn last line cut."""
    log = RowLog(part_path(out, rank, world), [*columns, INDEX], key=key)
    log.check()
    log.repair()
    return log


def read_rows(path: Path) -> list[dict[str, str]]:
    """Every row of a CSV as written (text cells, so writing them again changes nothing)."""
    if not Path(path).exists():
        return []
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def merge(log: RowLog, parts: Sequence[Sequence[dict[str, str]]]) -> int:
    """Append to ``log`` the rows of ``parts`` it does not hold yet, in dataset order; returns how many.

    The sort by INDEX is stable and all rows of one item come from one rank in the order it
    scored the models, so the order is the one a single process writes.

    Raises:
        DatasetError: two ranks wrote the same (model, image): an image name occurs twice.
    """
    done = log.done()
    rows = sorted((row for part in parts for row in part), key=lambda row: int(row[INDEX]))
    seen: set[tuple[str, ...]] = set()
    with log:
        for row in rows:
            key = tuple(row[k] for k in log.key)
            if key in done:
                continue
            if key in seen:
                raise DatasetError(f"image name {row['image']!r} occurs twice in the dataset; names must be unique")
            seen.add(key)
            log.write(row)
    return len(seen)
