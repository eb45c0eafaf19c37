"""Append-only CSV of result rows that survives interruption, and the run-directory JSON.

Rows are written one at a time and flushed, so an interrupted run loses at most the row being
written; a torn last line (killed mid-write) is cut off on the next start. Each row has a key
(e.g. model + image); a resumed run skips keys that are already there.

The JSON beside the CSV is written *before* the first row and holds the run's identity (what
decides the numbers: dataset, blur, seed, protocol ...). A directory whose JSON has another
identity is refused, so rows of two different experiments never mix in one file.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from deblur.errors import DeblurError


class RunDirError(DeblurError):
    """The output directory holds something a run must not write into."""


def _fmt(value: Any) -> str:
    """Deterministic text for a CSV cell: '' for None / NaN, 8 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.8g}"
    return str(value)


class RowLog:
    """per-image style CSV: fixed columns, append + flush per row, keyed resume."""

    def __init__(self, path: Path, columns: Sequence[str], key: Sequence[str]) -> None:
        self.path, self.columns, self.key = Path(path), list(columns), list(key)
        self._fh = None
        self._writer = None

    # -- reading ---------------------------------------------------------------------
    def check(self) -> None:
        """Refuse a file whose header is not ours (another program or an older format)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open(newline="") as fh:
            header = next(csv.reader(fh), [])
        if header != self.columns:
            raise RunDirError(
                f"{self.path} has other columns than this version of the evaluator writes; "
                "use a new --out directory"
            )

    def repair(self) -> int:
        """Cut a torn last line (no trailing newline); returns the number of bytes removed."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        with self.path.open("r+b") as fh:
            fh.truncate(keep)
        return len(data) - keep

    def done(self) -> set[tuple[str, ...]]:
        """Keys of the rows already written."""
        if not self.path.exists():
            return set()
        with self.path.open(newline="") as fh:
            return {tuple(row[k] for k in self.key) for row in csv.DictReader(fh)}

    # -- writing ---------------------------------------------------------------------
    def __enter__(self) -> "RowLog":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._fh = self.path.open("a", newline="")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._writer.writerow(self.columns)
            self._fh.flush()
        return self

    def write(self, row: dict[str, Any]) -> None:
        missing = set(self.columns) - set(row)
        if missing:
            raise KeyError(f"row lacks columns {sorted(missing)}")  # a bug, not user input
        self._writer.writerow([_fmt(row[c]) for c in self.columns])
        self._fh.flush()

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def key_of(row: dict[str, Any], key: Iterable[str]) -> tuple[str, ...]:
    return tuple(_fmt(row[k]) for k in key)


# ------------------------------------------------------------------------------------ JSON


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write (temporary file + rename): a reader never sees half a JSON."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def open_run_dir(out: Path, json_name: str, csv_name: str, identity: dict[str, Any],
                 models: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Check that `out` may receive this run; returns the existing JSON (or None for a new run).

    Writes nothing. Raises RunDirError for: a file where the directory should be, rows without
    a JSON (unknown provenance), another identity, or weights that changed since their rows
    were written.
    """
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file, not a directory")
    jpath, cpath = out / json_name, out / csv_name
    if not jpath.exists():
        if cpath.exists():
            raise RunDirError(f"{cpath} exists without {json_name}: its provenance is unknown; "
                              "use a new --out directory")
        return None
    try:
        old = json.loads(jpath.read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{jpath} is unreadable ({exc}); use a new --out directory") from None
    if old.get("config") != identity:
        prev = old.get("config") or {}
        diff = sorted(k for k in set(prev) | set(identity) if prev.get(k) != identity.get(k))
        what = ", ".join(f"{k}: {prev.get(k)!r} there, {identity.get(k)!r} now" for k in diff)
        raise RunDirError(f"{out} holds a run with another configuration ({what}); "
                          "use a new --out directory")
    for name, meta in models.items():
        before = (old.get("models") or {}).get(name, {}).get("sha256")
        if before and meta.get("sha256") and before != meta.get("sha256"):
            raise RunDirError(f"the weights of {name} changed since {out} was scored "
                              f"(sha256 {before[:12]}... there, {meta['sha256'][:12]}... now); "
                              "use a new --out directory")
    return old
