"""`python -m ratecard`."""

import sys

from ratecard.cli import main

sys.exit(main())
