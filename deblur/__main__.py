"""`python -m deblur INPUT -o OUTPUT --model NAME`: see deblur/cli.py."""

import sys

from deblur.cli import main

if __name__ == "__main__":
    sys.exit(main())
