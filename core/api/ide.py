"""GraphiQL, served from Crossdock's own origin so the IDE works with no internet.

The JavaScript and CSS come from npm packages installed at set-up time into
``core/api/ide/node_modules`` (see ``core/api/ide/package.json``), never from a CDN and
never copied into the repository. Only the files the page needs are served.
"""

from __future__ import annotations

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
    const fetcher = GraphiQL.createFetcher({{ url: url, subscriptionUrl: wsUrl }});
    const explorer = GraphiQLPluginExplorer.explorerPlugin();
    const headers = JSON.stringify({{
      "Authorization": "Bearer <your API key>",
      "X-Tenant": "<tenant slug, if the key reaches several>"
    }}, null, 2);
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{
        fetcher: fetcher,
        defaultEditorToolsVisibility: "headers",
        headers: localStorage.getItem("graphiql:headers") || headers,
        shouldPersistHeaders: true,
        plugins: [explorer],
        defaultQuery: "{{\\n  viewer {{ tenantSlug scopes }}\\n"
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


def ide_page(assets_dir: Path) -> str:
    missing = missing_assets(assets_dir)
    if missing:
        return _MISSING.format(missing=", ".join(missing))
    return _PAGE.format(p=PREFIX)


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
