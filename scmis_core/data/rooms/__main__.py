"""``python -m scmis_core.data.rooms``: see :func:`scmis_core.data.rooms.cli.main`."""

import sys

from .cli import main

sys.exit(main())
