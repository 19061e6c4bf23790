"""`python -m hub` is the `campus-hub` command."""

import sys

from hub.cli import main

sys.exit(main())
