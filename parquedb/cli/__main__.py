"""``python -m parquedb.cli``: the same as the ``parquedb`` command."""

import sys

from parquedb.cli import main

sys.exit(main())
