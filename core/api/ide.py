"""GraphiQL, served from Crossdock's own origin so the IDE works with no internet.

The JavaScript and CSS come from npm packages installed at set-up time into
``core/api/ide/node_modules`` (see ``core/api/ide/package.json``), never from a CDN and
never copied into the repository. Only the files the page needs are served.

Under ``crossdock serve --demo`` the page opens ready to use: the demo's API key and tenant
are in the headers (the server passes them in ``CROSSDOCK_DEMO_API_KEY`` and
``CROSSDOCK_DEMO_TENANT``), so the schema loads at once. Otherwise, while the headers still
hold the placeholder, the IDE does not send it: it says where the key goes instead of
showing the server's "malformed API key" and "Error fetching schema".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.response import File

__all__ = ["ASSETS", "default_assets_dir", "ide_assets_handler", "ide_page"]

#: URL name -> path inside node_modules
ASSETS: dict[str, str] = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": "graphiql/graphiql.min.js",
    "graphiql.css": "graphiql/graphiql.min.css",
    "explorer.js": "@graphiql/plugin-explorer/dist/index.umd.js",
    "explorer.css": "@graphiql/plugin-explorer/dist/style.css",
}
PREFIX = "/graphiql"


def default_assets_dir() -> Path:
    return Path(__file__).resolve().parent / "ide" / "node_modules"


def missing_assets(assets_dir: Path) -> list[str]:
    return [rel for rel in ASSETS.values() if not (assets_dir / rel).is_file()]


_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Crossdock GraphiQL</title>
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
  <link rel="stylesheet" href="{p}/graphiql.css">
  <link rel="stylesheet" href="{p}/explorer.css">
  <script src="{p}/react.js"></script>
  <script src="{p}/react-dom.js"></script>
  <script src="{p}/graphiql.js"></script>
  <script src="{p}/explorer.js"></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL...</div>
  <script>
    const url = window.location.href.split("?")[0];
    const wsUrl = url.replace(/^http/, "ws");
    const demo = {demo};
    const PLACEHOLDER = "<your API key>";
    const headers = JSON.stringify(demo ? {{
      "Authorization": "Bearer " + demo.key,
      "X-Tenant": demo.tenant
    }} : {{
      "Authorization": "Bearer " + PLACEHOLDER,
      "X-Tenant": "<tenant slug, if the key reaches several>"
    }}, null, 2);
    const HINT = "Put your API key in the Headers tab below (Authorization: Bearer cdk_...; "
      + "`crossdock apikeys create` makes one), then run the query or reload the docs.";
    const send = GraphiQL.createFetcher({{ url: url, subscriptionUrl: wsUrl }});
    // an unfilled placeholder is never sent: the server could only call it malformed
    const fetcher = (params, options) => {{
      const auth = Object.entries((options && options.headers) || {{}})
        .find(([k]) => k.toLowerCase() === "authorization");
      if (auth && String(auth[1]).includes(PLACEHOLDER)) {{
        return Promise.resolve({{ errors: [{{ message: HINT }}] }});
      }}
      return send(params, options);
    }};
    // in the demo the key changes each run: a stored one from an earlier run would be stale
    const stored = demo ? null : localStorage.getItem("graphiql:headers");
    if (demo) localStorage.setItem("graphiql:headers", headers);
    const explorer = GraphiQLPluginExplorer.explorerPlugin();
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{
        fetcher: fetcher,
        defaultEditorToolsVisibility: "headers",
        headers: stored || headers,
        shouldPersistHeaders: true,
        plugins: [explorer],
        defaultQuery: demo ? DEMO_QUERY : "{{\\n  viewer {{ tenantSlug scopes }}\\n"
          + "  plugins {{ name kind version capabilities }}\\n}}\\n"
      }})
    );
  </script>
</body>
</html>
"""

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Crossdock GraphiQL</title></head>
<body><h1>GraphiQL assets are not installed</h1>
<p>Run <code>make setup</code> (it runs <code>npm ci --prefix core/api/ide</code>) or point
<code>CROSSDOCK_GRAPHIQL_ASSETS</code> at a node_modules folder holding them.
Missing: {missing}</p><p>The API itself works: POST queries to this URL.</p></body></html>
"""


#: The demo's first query: its orders, and why some wait.
DEMO_QUERY = """# The demo's live shops keep selling: run this (Ctrl-Enter) now and again.
{
  viewer { tenantSlug }
  orders(first: 10) {
    nodes { externalId status connection { channel } total { amount currency } holds { reason message } }
  }
}
"""


def demo_headers() -> dict[str, str] | None:
    """The demo's key and tenant, when this server runs ``--demo`` (else None)."""
    key = os.environ.get("CROSSDOCK_DEMO_API_KEY")
    if os.environ.get("CROSSDOCK_DEMO") != "1" or not key:
        return None
    return {"key": key, "tenant": os.environ.get("CROSSDOCK_DEMO_TENANT", "")}


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def ide_page(assets_dir: Path) -> str:
    missing = missing_assets(assets_dir)
    if missing:
        return _MISSING.format(missing=", ".join(missing))
    page = _PAGE.format(p=PREFIX, demo=_script_json(demo_headers()))
    return page.replace("DEMO_QUERY", _script_json(DEMO_QUERY))


def ide_assets_handler(assets_dir: Path) -> HTTPRouteHandler:
    @get(f"{PREFIX}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
    def asset(name: str) -> Response[bytes] | File:
        rel = ASSETS.get(name)
        if rel is None or not (assets_dir / rel).is_file():
            raise NotFoundException(f"no IDE asset {name!r}")
        return File(
            assets_dir / rel,
            media_type="text/css" if name.endswith(".css") else "text/javascript",
            content_disposition_type="inline",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    return asset
