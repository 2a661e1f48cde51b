"""``python -m devstack``: the local stack (``make dev``); see devstack.stack."""

from devstack.stack import main

raise SystemExit(main())
