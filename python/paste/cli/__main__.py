"""`python -m paste.cli ...` runs the `paste` console script."""

import sys

from paste.cli import main

sys.exit(main())
