"""``python -m gte_ui …``: see :mod:`gte_ui.cli`."""

import sys

from .cli import main

sys.exit(main())
