"""`python -m cutout.cli`: the same as the `cutout` command."""
import sys

from .main import main

sys.exit(main())
