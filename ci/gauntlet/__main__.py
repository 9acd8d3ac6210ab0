"""Allow ``python -m gauntlet``."""

import sys

from gauntlet.cli import main

sys.exit(main())
