"""`python -m rpsc`: the command line."""

from rpsc.cli import main

raise SystemExit(main())
