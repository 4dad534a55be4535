"""The web application, assembled in one visible place, and the pages it serves.

``application`` builds the Starlette app (``build_app``): middleware, routes, the GraphQL
endpoint, the per-app services handed to every request. It is the composition root: the only
module of ``cdp`` that imports ``schema``. ``playground`` (offline GraphiQL) and ``insights``
(pictures of the data drawn from the API) are its pages; their assets live in ``cdp/static``.

Modules:

- ``application``: Assembly of the cdp web application, in one visible place.
- ``insights``: The insights page: pictures of the data beside the playground, drawn from the GraphQL API.
- ``playground``: Offline GraphiQL playground for cdp.
"""

from __future__ import annotations

from cdp.app.application import build_app

__all__ = [
    "build_app",
    "application",
    "insights",
    "playground",
]
