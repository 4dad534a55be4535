"""Offline GraphiQL playground for cdp.

Strawberry's built-in GraphiQL page pulls React and GraphiQL from a CDN, which
the machines cdp runs on cannot reach.  This module renders an equivalent page
that loads only assets served by cdp itself:

* ``playground_html()`` - the HTML page (no ``http(s)://`` URL in it);
* ``asset_routes()``    - Starlette ``Mount``s serving the vendored files and cdp's own
  page assets (``cdp/static/cdp``: the playground's script, which puts a labelled
  "API key" field above GraphiQL and keeps keys out of the browser's storage);
* ``assets_present()``  - whether the vendored files are installed.

The vendored files live in ``cdp/static/graphiql/vendor/`` (gitignored); they
are installed from the npm packages pinned in ``tools/graphiql/package.json``::

    npm ci --prefix tools/graphiql --no-audit --no-fund
    python tools/graphiql/vendor.py

When they are missing, the page renders a message explaining how to install
them instead of a blank screen.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

__all__ = [
    "DEFAULT_QUERY",
    "VENDOR_DIR",
    "VENDOR_FILES",
    "asset_routes",
    "assets_present",
    "playground_html",
]

VENDOR_DIR = Path(__file__).resolve().parents[1] / "static" / "graphiql" / "vendor"

# Must match ASSETS in tools/graphiql/vendor.py.
REACT_JS = "react.production.min.js"
REACT_DOM_JS = "react-dom.production.min.js"
GRAPHIQL_JS = "graphiql.min.js"
GRAPHIQL_CSS = "graphiql.min.css"
VENDOR_FILES: tuple[str, ...] = (REACT_JS, REACT_DOM_JS, GRAPHIQL_JS, GRAPHIQL_CSS)

INSTALL_COMMAND = (
    "make install   "
    "(or: npm ci --prefix tools/graphiql --no-audit --no-fund && python tools/graphiql/vendor.py)"
)

DEFAULT_QUERY = """\
# Welcome to the cdp GraphQL playground.
#
# 1. Paste your API key into the "API key" field at the top of
#    the page: `make serve` prints one (or run `cdp keys create`).
#    The schema loads as soon as the key is there; Docs and
#    autocomplete (Ctrl-Space) follow it.
# 2. Run: Ctrl-Enter or the play button.
#
# The key is sent only to this server, as
# "Authorization: Bearer <key>". The page holds it in memory;
# tick "Remember for this tab" to keep it until the tab closes.
# It is never written to the query history.

{
  customers(first: 5) {
    totalCount
    edges {
      node {
        id
        name
        tier
      }
    }
  }
}
"""

#: What a query run without a key answers (locally: nothing is sent).
NO_KEY_MESSAGE = ('No API key: paste it into the "API key" field at the top of the page '
                  "(`make serve` prints one; or run `cdp keys create`).")

#: cdp's own page assets (the playground's and the insights page's script and style).
OWN_DIR = Path(__file__).resolve().parents[1] / "static" / "cdp"
OWN_PREFIX = "/static/cdp"


def assets_present() -> bool:
    """True when every vendored GraphiQL asset exists and is non-empty."""
    for name in VENDOR_FILES:
        path = VENDOR_DIR / name
        try:
            if not path.is_file() or path.stat().st_size == 0:
                return False
        except OSError:
            return False
    return True


def asset_routes(asset_prefix: str = "/static/graphiql", own_prefix: str = OWN_PREFIX) -> list[BaseRoute]:
    """Routes serving the vendored assets at ``{asset_prefix}/<file>`` and cdp's own page
    assets (``cdp/static/cdp``) at ``{own_prefix}/<file>``.

    ``check_dir=False`` so the app can be imported (and the routes built)
    before the assets are installed; requests then get a 404 (with a hint)
    until they are, rather than StaticFiles' 500 for a missing directory.
    """
    return [
        Mount(
            _normalise_prefix(asset_prefix),
            app=_VendorStaticFiles(directory=VENDOR_DIR, check_dir=False),
            name="graphiql-assets",
        ),
        Mount(_normalise_prefix(own_prefix), app=StaticFiles(directory=OWN_DIR), name="cdp-assets"),
    ]


class _VendorStaticFiles(StaticFiles):
    """StaticFiles that answers 404 while the vendor directory does not exist."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not os.path.isdir(self.directory or ""):
            response = PlainTextResponse(
                f"GraphiQL assets are not installed; run: {INSTALL_COMMAND}", status_code=404
            )
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def playground_html(graphql_path: str = "/graphql", asset_prefix: str = "/static/graphiql",
                    own_prefix: str = OWN_PREFIX, insights_path: str | None = None) -> str:
    """The playground page, loading only ``{asset_prefix}/...`` and ``{own_prefix}/...`` assets.

    ``graphql_path`` is the endpoint GraphiQL talks to (resolved against the page's own
    origin); ``insights_path``, when given, is linked from the key bar. The page's script
    (``cdp/static/cdp/playground.js``) reads its settings from an inline JSON block.
    If the vendored assets are not installed, a page explaining how to install them is
    returned instead.
    """
    prefix = _normalise_prefix(asset_prefix)
    own = _normalise_prefix(own_prefix)
    if not assets_present():
        return _missing_assets_html()

    config = {
        "graphqlPath": graphql_path,
        "insightsPath": insights_path,
        "defaultQuery": DEFAULT_QUERY,
        "noKeyMessage": NO_KEY_MESSAGE,
        "missingAssetsMessage": ("The GraphiQL assets could not be loaded from "
                                 f"{prefix}/. If they are not installed, run: {INSTALL_COMMAND}"),
    }
    return _PAGE_TEMPLATE.format(
        css=versioned_asset(VENDOR_DIR, prefix, GRAPHIQL_CSS),
        own_css=versioned_asset(OWN_DIR, own, "playground.css"),
        react=versioned_asset(VENDOR_DIR, prefix, REACT_JS),
        react_dom=versioned_asset(VENDOR_DIR, prefix, REACT_DOM_JS),
        graphiql=versioned_asset(VENDOR_DIR, prefix, GRAPHIQL_JS),
        own_js=versioned_asset(OWN_DIR, own, "playground.js"),
        config=script_json(config),
    )


def versioned_asset(folder: Path, prefix: str, name: str) -> str:
    """``{prefix}/{name}?v=<token>``, HTML-escaped: the token (the file's size and mtime)
    busts browser caches when the file changes."""
    stat = (folder / name).stat()
    token = f"{stat.st_size:x}{int(stat.st_mtime):x}"
    return html.escape(f"{prefix}/{name}?v={token}", quote=True)


def _normalise_prefix(prefix: str) -> str:
    prefix = "/" + prefix.strip("/")
    return prefix


def script_json(value: object) -> str:
    """``value`` as JSON (a JavaScript literal) that is safe inside an inline ``<script>``:
    no ``<``, ``>`` or ``&`` left to end the script or start markup."""
    return (
        json.dumps(value, ensure_ascii=True)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _missing_assets_html() -> str:
    return _MISSING_TEMPLATE.format(
        vendor_dir=html.escape(str(VENDOR_DIR)),
        command=html.escape(INSTALL_COMMAND),
    )


_STYLE = """\
      html, body { height: 100%; margin: 0; }
      #graphiql { height: 100vh; }
      .cdp-playground-error {
        font: 15px/1.5 system-ui, sans-serif;
        max-width: 52rem;
        margin: 3rem auto;
        padding: 1.5rem 2rem;
        border: 1px solid #e0b4b4;
        border-radius: 8px;
        background: #fff6f6;
        color: #3a1f1f;
      }
      .cdp-playground-error code {
        background: #f3e3e3;
        padding: 0.1rem 0.3rem;
        border-radius: 4px;
      }
"""

_PAGE_TEMPLATE = """\
<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>cdp GraphQL playground</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="{css}" />
    <link rel="stylesheet" href="{own_css}" />
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL&hellip;</div>
    <script type="application/json" id="cdp-playground-config">{config}</script>
    <script src="{react}"></script>
    <script src="{react_dom}"></script>
    <script src="{graphiql}"></script>
    <script src="{own_js}"></script>
  </body>
</html>
"""

_MISSING_TEMPLATE = (
    """\
<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>cdp GraphQL playground - assets not installed</title>
    <link rel="icon" href="data:," />
    <style>
"""
    + _STYLE.replace("{", "{{").replace("}", "}}")
    + """\
    </style>
  </head>
  <body>
    <div class="cdp-playground-error" id="graphiql-missing">
      <h1>GraphiQL assets are not installed</h1>
      <p>The playground serves React and GraphiQL itself (no CDN), from
      <code>{vendor_dir}</code>, which is empty or incomplete.</p>
      <p>To install them, run <code>{command}</code> and reload this page.</p>
      <p>The GraphQL endpoint itself works without them: POST queries to it as usual.</p>
    </div>
  </body>
</html>
"""
)
