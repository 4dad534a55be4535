"""What arrives over HTTP and how it is answered: the GraphQL request, persisted queries,
caching headers, CORS, the connection of ``cdp serve``, Relay cursors (docs/errors.md, docs/limits.md).

Modules:

- ``cors``: Cross-origin requests (CORS): which browser pages on other origins may call the API.
- ``global_ids``: Relay global ids: one opaque id per object of the API, naming its type and its domain id.
- ``graphql_request``: What cdp accepts as a GraphQL request over HTTP, and how it refuses everything else.
- ``http_caching``: Caching headers of the answers to ``GET`` queries: what a browser may keep, and for whom.
- ``http_connection``: The HTTP/1.1 connection of ``cdp serve``: uvicorn's, with a deadline for request headers.
- ``pagination``: Keyset cursors and page-size rules for Relay-style connections.
- ``persisted_queries``: Automatic persisted queries: Apollo's protocol, so a client may send a query's hash instead of its text.
"""

__all__ = [
    "cors",
    "global_ids",
    "graphql_request",
    "http_caching",
    "http_connection",
    "pagination",
    "persisted_queries",
]
