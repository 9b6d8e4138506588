"""`python -m rpsc`: the command line."""

from rpsc.driver.cli import main

raise SystemExit(main())
