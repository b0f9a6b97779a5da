"""``python -m chori_torch``: the ``chori`` command without the console script on PATH."""

from .cli import main

raise SystemExit(main())
