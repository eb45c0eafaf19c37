"""`python -m eval`: see eval/cli.py for the commands."""

import sys

from eval.cli import main

sys.exit(main())
