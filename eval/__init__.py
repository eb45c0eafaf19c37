"""The evaluator: scores every model and baseline of deep-deblur into CSV leaderboards.

Commands (see eval/cli.py):
- ``python -m eval --dataset SPEC --blur gaussian|motion --models all --out DIR``: per_image.csv
  (one row per model and image, appended as images finish), leaderboard.csv (its group-by) and
  run.json (configuration, commit, weight hashes, library versions, machine).
- ``python -m eval sweep ...``: PSNR / SSIM against blur strength (sweep.csv).
- ``python -m eval speed ...``: timing, memory, MACs and efficiency (speed.csv).
- ``python -m eval readme [--write [FILE]]``: the leaderboard block of docs/leaderboards.md (or
  FILE), rendered from the published CSVs under eval/leaderboards/.

The evaluator only orchestrates: blur, metrics, datasets and inference come from ``deblur``.
"""
