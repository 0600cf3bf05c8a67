"""``python -m scmis_core.experiments``."""

from .cli import main

raise SystemExit(main())
