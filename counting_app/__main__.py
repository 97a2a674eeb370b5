"""`python -m counting_app ...`: the `counting` command line."""

import sys

from counting_app.cli import main

sys.exit(main())
