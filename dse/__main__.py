"""``python -m dse`` is ``python -m dse.build``."""

from .build import main

raise SystemExit(main())
