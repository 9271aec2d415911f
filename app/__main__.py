"""``python -m app``: the same as ``hgpose app``."""

import sys

from app.cli import main

sys.exit(main())
