"""Command line of the evaluator (frozen config dataclasses filled by argparse).

    python -m eval [--dataset SPEC] [--blur gaussian|motion] [--models all|NAME[,NAME...]] [--out DIR]
                   [--seed N] [--limit N] [--save-images] [--protocol full|cifar] [--single-frame]
    python -m eval sweep --dataset SPEC --blur gaussian|motion --models ... --out DIR
    python -m eval speed --models ... --size HxW --out DIR [--backend torch,onnxruntime]
    python -m eval readme [--write [FILE]]   (FILE: docs/leaderboards.md unless given)

Exit codes: 0 done, 2 bad input (one line on stderr, nothing written), 130 interrupted (the rows
written so far are kept; the same command resumes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deblur.provenance import REPO_ROOT

from eval.config import BLURS, DEFAULT_SEED, MOTION_LENGTH, PROTOCOLS, SIGMA_MAX, RunConfig

SUBCOMMANDS = ("sweep", "speed", "readme")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other bad-input message of the evaluator."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _tile(text: str) -> int:
    """Tile side in pixels; 'none' or 0 = the whole image in one pass (returned as 0).

    A negative size is an error, not a synonym for 0: a typo must not switch off the tiling
    that bounds memory.
    """
    if text.strip().lower() == "none":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'none', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of pixels, or 0 / none for the whole image at once; got {value}")
    return value


def _common(p: argparse.ArgumentParser, out_help: str) -> None:
    p.add_argument("--dataset", default="builtin", metavar="SPEC",
                   help="builtin (default), photos:DIR, pairs:DIR, cifar10:DIR, reds:DIR, gopro:DIR, video:FILE")
    p.add_argument("--blur", choices=BLURS, default="gaussian", help="blur type / task (default gaussian)")
    p.add_argument("--models", default="all", metavar="all|NAME[,NAME...]",
                   help="'all' = shipped networks for the blur type + baselines; or a comma-separated list")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help=out_help)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"blur seed (default {DEFAULT_SEED})")
    p.add_argument("--limit", type=_positive_int, default=None, metavar="N", help="N images, evenly spaced over the dataset")
    p.add_argument("--protocol", choices=PROTOCOLS, default="full",
                   help="full (default) or cifar: the paper's 32x32 Gaussian experiment")
    p.add_argument("--motion-length", type=float, default=MOTION_LENGTH, metavar="PX",
                   help=f"camera-path length for synthetic motion blur (default {MOTION_LENGTH}, calibrated)")
    p.add_argument("--tile", type=_tile, default=None, metavar="PX",
                   help="network tile size (default: the inference object's; none = whole image at once)")
    p.add_argument("--bf16", action="store_true", help="run networks under bf16 autocast")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m eval",
        description="Score models and baselines on a dataset: per_image.csv, leaderboard.csv, run.json. "
                    "Other commands: 'python -m eval sweep|speed|readme -h'.",
    )
    _common(p, "output directory (default runs/eval-<dataset>-<blur>); an interrupted run resumes here")
    p.add_argument("--save-images", action="store_true", help="also save every output as lossless PNG")
    p.add_argument("--single-frame", action="store_true",
                   help="motion: give 3-frame models the middle frame three times (ablation)")
    return p


def sweep_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m eval sweep",
                                description="PSNR / SSIM against blur strength (sigma or motion length)")
    _common(p, "output directory (default runs/sweep-<dataset>-<blur>)")
    p.add_argument("--levels", default=None, metavar="X[,X...]",
                   help="blur strengths (default: sigma 0..3 step 0.5, or the motion length grid)")
    return p


def speed_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m eval speed",
                                description="seconds per frame, MP/s, peak memory, MACs, efficiency vs the "
                                            "machine's matmul peak, and Richardson-Lucy time on the same frame")
    p.add_argument("--models", default="all", metavar="all|NAME[,NAME...]",
                   help="all (shipped networks + baselines), names, or ARCH@PRESET[-TASK] (untrained: timing only)")
    p.add_argument("--size", default="720x1280", metavar="HxW", help="frame size (default 720x1280)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="output directory (default runs/speed-HxW)")
    p.add_argument("--repeats", type=_positive_int, default=1, help="timed runs per model (median)")
    p.add_argument("--tile", type=_tile, default=None, metavar="PX",
                   help="network tile size (default: the inference object's; none = whole image at once)")
    p.add_argument("--bf16", action="store_true", help="run networks under bf16 autocast")
    p.add_argument("--backend", default="torch", metavar="torch|onnxruntime[,...]",
                   help="where networks run; a comma-separated list times each network on each (backend column), "
                        "e.g. torch,onnxruntime (default torch)")
    p.add_argument("--peak-size", type=_positive_int, default=2048, metavar="N",
                   help="matrix side for the attainable-peak matmuls (default 2048)")
    return p


def readme_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m eval readme",
                description="render the leaderboard block of docs/leaderboards.md from eval/leaderboards/")
    p.add_argument("--dir", type=Path, default=None, help="leaderboards folder (default eval/leaderboards)")
    p.add_argument("--write", type=Path, nargs="?", default=None, const=REPO_ROOT / "docs" / "leaderboards.md",
                   metavar="FILE", help="replace the text between <!-- leaderboard:start --> and "
                                        "<!-- leaderboard:end --> in FILE (default docs/leaderboards.md); "
                                        "without --write the block is printed")
    p.add_argument("--sweeps", action="store_true", help="also render the published sweeps as tables")
    return p


def _default_out(prefix: str, args: argparse.Namespace) -> Path:
    kind = args.dataset.split(":", 1)[0]
    suffix = "-cifar" if getattr(args, "protocol", "full") == "cifar" else ""
    return Path("runs") / f"{prefix}-{kind}-{args.blur}{suffix}"


def _run(argv: list[str]) -> int:
    from eval.run import run

    args = run_parser().parse_args(argv)
    cfg = RunConfig(
        dataset=args.dataset, blur=args.blur, models=tuple(args.models.split(",")),
        out=args.out or _default_out("eval", args), seed=args.seed, limit=args.limit,
        save_images=args.save_images, protocol=args.protocol, single_frame=args.single_frame,
        motion_length=args.motion_length, sigma_max=SIGMA_MAX, tile=args.tile, bf16=args.bf16,
        progress=not args.no_progress,
    )
    return run(cfg, argv)


def _sweep(argv: list[str]) -> int:
    from eval.sweep import sweep

    args = sweep_parser().parse_args(argv)
    if args.out is None:
        args.out = _default_out("sweep", args)
    return sweep(args, ["sweep", *argv])  # the full command line goes into the JSON


def _speed(argv: list[str]) -> int:
    from eval.speed import speed

    args = speed_parser().parse_args(argv)
    return speed(args, ["speed", *argv])


def _readme(argv: list[str]) -> int:
    from eval.readme import readme

    return readme(readme_parser().parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    from deblur.errors import DeblurError

    argv = list(sys.argv[1:] if argv is None else argv)
    command = {"sweep": _sweep, "speed": _speed, "readme": _readme}.get(argv[0] if argv else "", None)
    try:
        if command is not None:
            return command(argv[1:])
        return _run(argv)
    except DeblurError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # always exactly one line
        return 2
    except KeyboardInterrupt:
        print("interrupted: the rows written so far are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
