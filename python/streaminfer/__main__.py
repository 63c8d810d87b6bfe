"""``python -m streaminfer``: the same as the ``streaminfer`` command."""

import sys

from streaminfer.cli import main

sys.exit(main())
