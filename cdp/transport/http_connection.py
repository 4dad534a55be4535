"""The HTTP/1.1 connection of ``cdp serve``: uvicorn's, with a deadline for request headers.

uvicorn closes a connection idle *between* requests (``timeout_keep_alive``), but waits
for ever for a client that connects and sends nothing, or sends half a request line or
half its headers and stops (a "slowloris" holds connections open that way). The ASGI app
cannot see such a request: it starts only once the headers are complete. So
``HeaderTimedProtocol`` (uvicorn's httptools protocol) keeps a timer from the moment a
connection opens, or a response ends, until the next request's headers are complete. When
it fires, a client that began a request gets 408 with a GraphQL-shaped JSON body
(``HEADER_TIMEOUT``), and the connection is closed. Bodies have their own deadline in the
app (``cdp.limits.request_limits.BodyReadTimeout``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cdp.limits.request_limits import HeaderTimeout, error_body

log = logging.getLogger("cdp.http")


class HeaderTimedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``header_timeout`` seconds for request headers.

    Build a class with a timeout with ``protocol_with_header_timeout``.
    """

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._request_begun = False

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        self._request_begun = False
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # for the next request on this connection

    def _headers_late(self) -> None:
        """The timer fired: close the connection, with a 408 when a request had begun."""
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request whose headers were complete is being served (pipelined)
        if self._request_begun:
            client = self.client[0] if self.client else "unknown"
            log.info("request headers did not arrive within %g s; closing the connection", self.header_timeout,
                     extra={"client": client})
            body = error_body(HeaderTimeout(f"the request headers did not arrive within {self.header_timeout:g} s"),
                              {"limit": self.header_timeout})
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                 b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
                                 + body)
        self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[HeaderTimedProtocol]:
    """A ``HeaderTimedProtocol`` class (for ``uvicorn.Config(http=...)``) with ``seconds`` for headers."""
    return type("HeaderTimedProtocol", (HeaderTimedProtocol,), {"header_timeout": seconds})
