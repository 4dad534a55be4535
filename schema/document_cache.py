"""Parse each distinct GraphQL document once: a bounded, shared LRU cache.

strawberry's own ``ParserCache`` parses inside the extension hook, where a
syntax error escapes strawberry's error handling and reaches the client
without ``extensions.code``. ``DocumentCache`` only stores documents that
parse; on a syntax error it leaves the document unset, so strawberry parses
it again in its normal path and reports ``GRAPHQL_PARSE_FAILED`` as usual
(a failed parse is never cached, so bad texts cannot fill the cache).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from typing import Any

from graphql.error import GraphQLError
from graphql.language.parser import parse
from strawberry.extensions import SchemaExtension


@cache
def _cached_parse(maxsize: int) -> Callable[..., Any]:
    return lru_cache(maxsize=maxsize)(parse)


class DocumentCache(SchemaExtension):
    """Reuse the parsed document of a query text seen before (up to ``maxsize`` texts)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self._parse = _cached_parse(maxsize)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = self._parse(context.query, **context.parse_options)
            except GraphQLError:
                pass  # strawberry parses again and reports the error with its code
        yield
