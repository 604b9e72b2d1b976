"""ASGI entry point (``crossdock.api.asgi:app``) for uvicorn or any ASGI server.

Each server process builds its own App from the environment. The embedded runner starts
with it when no Redis is configured; migrations are run by ``crossdock serve``/``migrate``
before the processes start, never by each process.
"""

from __future__ import annotations

import os

from crossdock.api.app import create_app
from crossdock.bootstrap import App

app = create_app(App.build(), live_demo=os.environ.get("CROSSDOCK_DEMO") == "1", server_process=True)
