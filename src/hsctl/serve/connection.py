"""Connection limits that uvicorn's HTTP protocol does not enforce by itself.

uvicorn's httptools protocol (the one ``uvicorn[standard]`` picks) buffers a
request head of any size, and arms its keep-alive timeout only after a first
answer, cancelling it at the first byte of the next request: a connection that
never sends anything, or sends half a head, stays open for ever. This protocol:

* closes a connection that has not sent a complete request head within
  ``serve.keep_alive_timeout_s`` of opening or of its last answer (a half-sent
  head gets ``408`` first);
* answers ``431`` and closes the connection once a request head is over
  ``serve.max_header_bytes``, before more of it is buffered;
* answers a request its parser cannot read with ``400 invalid_http`` in the
  server's JSON error shape, with an ``X-Request-ID`` like every other answer.

The body has its own deadline (``serve.body_timeout_s``), enforced by the gateway.
The limits travel in uvicorn's own config fields (``timeout_keep_alive``,
``h11_max_incomplete_event_size``), so worker processes get them too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from hsctl.settings import ServeSettings

PROTOCOL = "hsctl.serve.connection:GuardedHttpProtocol"
DEFAULT_MAX_HEAD = 16_384


def uvicorn_options(cfg: ServeSettings) -> dict[str, Any]:
    """The ``uvicorn.run`` options that carry the connection limits of ``cfg``."""
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": cfg.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": cfg.max_header_bytes,
    }


def _raw_error(status: int, kind: str, message: str) -> bytes:
    """A whole HTTP/1.1 error answer in the server's JSON error shape, closing the connection."""
    body = json.dumps({"error": message, "type": kind}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {uuid.uuid4().hex}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head-size cap and a deadline for every request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD
        self._in_head = True  # the next bytes are (part of) a request head
        self._head_bytes = 0
        self._heads = 0  # request heads completed on this connection
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the deadline of the first request head."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a head still incomplete past ``max_head`` bytes ends the connection with 431."""
        in_head, heads = self._in_head, self._heads
        super().data_received(data)
        if in_head and self._heads == heads and not self.transport.is_closing():  # still the same head
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head:
                self._reject(431, "head_too_large", f"request head over {self.max_head} bytes")

    def on_headers_complete(self) -> None:
        """The head is in: its deadline and size count stop here."""
        self._in_head = False
        self._head_bytes = 0
        self._heads += 1
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """What follows the body is the next request's head (its deadline starts once this one is answered)."""
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        """Answered: the rest of the body, if any, and the next request head must arrive within the timeout."""
        super().on_response_complete()
        self._unset_keepalive_if_required()  # this protocol's deadline replaces uvicorn's
        if not self.transport.is_closing():
            self._arm()

    def send_400_response(self, msg: str) -> None:
        """A request the parser cannot read: the server's JSON error shape (uvicorn's is plain text), then close."""
        self._reject(400, "invalid_http", f"invalid HTTP request ({msg.rstrip('.').lower()})")

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # a (pipelined) request is being answered: its answer re-arms the deadline
        if self._head_bytes:  # a half-sent head: say why before closing
            self._reject(408, "head_timeout", f"no complete request head within {self.timeout_keep_alive:g} s")
        else:
            self.transport.close()

    def _reject(self, status: int, kind: str, message: str) -> None:
        self._disarm()
        if self.cycle is None or self.cycle.response_complete:  # no answer in progress to interleave with
            self.transport.write(_raw_error(status, kind, message))
        self.transport.close()
