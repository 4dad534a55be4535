"""Automatic persisted queries: Apollo's protocol, so a client may send a query's hash instead of its text.

A request whose ``extensions`` hold ``{"persistedQuery": {"version": 1, "sha256Hash": h}}``:

- without ``query``: the query registered under ``h`` runs; when the server does not know
  ``h`` (never sent, or evicted), the answer is HTTP 200 with one error, message
  ``PersistedQueryNotFound`` and ``extensions.code`` ``PERSISTED_QUERY_NOT_FOUND``, on which
  Apollo's clients (and others following the protocol) send the query text along with the hash;
- with ``query``: the hash must be the lowercase hex SHA-256 of the query's UTF-8 text
  (else 400 ``BAD_REQUEST`` naming ``extensions.persistedQuery.sha256Hash``); the query is
  registered under it and runs.

Works over ``POST`` and ``GET`` (``GET /graphql?extensions=...&variables=...``: a short URL that
browsers and proxies can cache; docs/security.md "Caching"). The registry is per process, in
memory, and bounded by the total size of the query texts it holds (``CDP_PERSISTED_QUERY_CACHE_MB``),
least recently used first out. Query texts are not personal data: the registry is shared by
every credential, and a registered query still passes authentication, authorisation and
every limit on each run.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from typing import Any

from strawberry.http import GraphQLRequestData

from cdp.transport.graphql_request import BadRequest, TransportError

#: The one version of the protocol there is.
PROTOCOL_VERSION = 1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class PersistedQueryNotFound(TransportError):
    """A hash the server holds no query for: the client sends the query text with it again.

    Answered with HTTP 200 and the message Apollo's clients look for."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    status = 200
    headers = {"Cache-Control": "no-store"}  # a GET of the hash must reach the server again

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


def query_hash(query: str) -> str:
    """The protocol's hash of ``query``: lowercase hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def persisted_hash(extensions: dict[str, Any] | None) -> str | None:
    """The ``sha256Hash`` a request's ``extensions`` ask for, or None when it asks for none.

    Raises ``BadRequest`` (``field``: the member) for a ``persistedQuery`` that is not an
    object, names another version, or whose hash is not 64 lowercase hex digits.
    """
    if not extensions or "persistedQuery" not in extensions:
        return None
    spec = extensions["persistedQuery"]
    where = "extensions.persistedQuery"
    if not isinstance(spec, dict):
        raise BadRequest(f"`{where}` must be an object {{version, sha256Hash}}", field=where)
    if spec.get("version") != PROTOCOL_VERSION:
        raise BadRequest(f"`{where}.version` must be {PROTOCOL_VERSION}, the protocol's only version",
                         field=f"{where}.version")
    digest = spec.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise BadRequest(f"`{where}.sha256Hash` must be the SHA-256 of the query as 64 lowercase hex digits",
                         field=f"{where}.sha256Hash")
    return digest


class PersistedQueries:
    """The registry of query texts by hash, bounded by their total size in bytes (LRU). Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._queries: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._queries)

    @property
    def size_bytes(self) -> int:
        """Bytes of query text held now (never above ``max_bytes``)."""
        return self._bytes

    def resolve(self, data: GraphQLRequestData) -> GraphQLRequestData:
        """The request with its query filled in from, or registered into, the registry.

        In: a request read by ``cdp.transport.graphql_request.read_request`` (its ``query`` may be None
        only when its extensions name a persisted query). Out: the request to run.
        Raises ``PersistedQueryNotFound`` for an unknown hash without a query, ``BadRequest``
        for a malformed ``persistedQuery`` or a hash that is not the query's.
        """
        digest = persisted_hash(data.extensions)
        if digest is None:
            return data
        if data.query is None:
            query = self._get(digest)
            if query is None:
                raise PersistedQueryNotFound()
            return GraphQLRequestData(query=query, variables=data.variables, operation_name=data.operation_name,
                                      extensions=data.extensions, protocol=data.protocol)
        if query_hash(data.query) != digest:
            raise BadRequest("`extensions.persistedQuery.sha256Hash` is not the SHA-256 of `query`",
                             field="extensions.persistedQuery.sha256Hash")
        self._put(digest, data.query)
        return data

    def _get(self, digest: str) -> str | None:
        with self._lock:
            query = self._queries.get(digest)
            if query is not None:
                self._queries.move_to_end(digest)
            return query

    def _put(self, digest: str, query: str) -> None:
        size = len(query.encode("utf-8"))
        if size > self.max_bytes:
            return  # larger than the whole registry: runs, but is not kept
        with self._lock:
            if digest in self._queries:
                self._queries.move_to_end(digest)
                return
            self._queries[digest] = query
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._queries.popitem(last=False)
                self._bytes -= len(evicted.encode("utf-8"))
