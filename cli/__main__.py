"""``python -m cli``: the ``telesim`` command without the installed console script."""

import sys

from .main import main

sys.exit(main())
