"""Imported by the fork server only: load the server's main script there once, not in every job.

Each child of a spawn or forkserver context re-imports the parent's main script as ``__mp_main__`` unless the
process it came from already has that script as ``__main__``. Preloading ``"__main__"`` is meant to do this,
but Python 3.11's fork server never receives the path (it asks for a ``main_path`` key that
``get_preparation_data`` does not produce), so with ``nwbagent serve`` every job would import the CLI and
everything it pulls in (~1 s). The parent passes the path in an environment variable instead.
"""

from __future__ import annotations

import os
import sys
from multiprocessing import spawn

ENV = "_NWBAGENT_FORKSERVER_MAIN"  # set by local._forkserver_context; never imported by the server

_path = os.environ.get(ENV)
if _path and getattr(sys.modules.get("__main__"), "__file__", None) != _path:
    spawn.import_main_path(_path)
