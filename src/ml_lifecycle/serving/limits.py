"""What a client may cost the service: how long it may take to send a request, and how large its body may be.

uvicorn 0.54 bounds neither the time to send a request head nor the time to send a body: a client
declaring `Content-Length: 100` and sending 2 bytes held its connection, and a file descriptor,
forever. Two guards close that (docs/serving.md, *Slow and abusive clients*):

- `BodyLimits`, an ASGI middleware, reads every body whole before the app sees it: 413 past
  `serving.max_body_bytes`; 408 past `serving.body_timeout_seconds`, and the connection is closed.
- `HeadDeadlineProtocol`, uvicorn's HTTP/1.1 protocol with a deadline: a connection that opens, or
  starts a request, and has not delivered the request head within `serving.header_timeout_seconds`
  gets 408 (or is closed silently when it sent nothing) and is closed. The launcher installs it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import h11
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

RECEIVED_AT = "ml_lifecycle.received_at"
CLOSE = {"connection": "close"}


class BodyTooLarge(Exception):
    """The body grew past the size limit while it was read."""


class ClientGone(Exception):
    """The client disconnected before its body was complete."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """Return the whole request body; raise BodyTooLarge past `limit` bytes, ClientGone on a disconnect."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
        if size > limit:
            raise BodyTooLarge
    return b"".join(chunks)


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Return the service's JSON error body for a refusal made before the app ran."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def too_large(limit: int) -> JSONResponse:
    """Return the 413 for a body over `limit` bytes."""
    return error_response(413, "payload too large", f"the request body is over {limit} bytes (serving.max_body_bytes)")


class BodyLimits:
    """Read each request body whole before anything parses it: 413 over the size limit, 408 over the time limit."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int], timeout_seconds: Callable[[], float]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[RECEIVED_AT] = time.perf_counter()
        limit, seconds = self.max_bytes(), self.timeout_seconds()
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await too_large(limit)(scope, receive, send)
            return
        try:
            async with asyncio.timeout(seconds):
                body = await read_body(receive, limit)
        except TimeoutError:
            # `connection: close` makes uvicorn close the socket after the answer: the rest of the body never comes.
            await error_response(408, "request timeout", f"the request body did not arrive within {seconds:g} s "
                                 "(serving.body_timeout_seconds); the connection is closed", CLOSE)(scope, receive, send)
            return
        except BodyTooLarge:
            await too_large(limit)(scope, receive, send)
            return
        except ClientGone:
            return  # nobody to answer
        await self.app(scope, replay(body, receive), send)


def replay(body: bytes, receive: Receive) -> Receive:
    """Return a `receive` that gives the app the body already read, then whatever the server says next."""
    replayed = False

    async def replayed_receive() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed_receive


def head_timeout_answer(connection: h11.Connection, seconds: float) -> bytes:
    """Return the bytes of a 408 for a request head that did not arrive in time, closing the connection."""
    body = json.dumps({"error": "request timeout", "detail": f"the request head did not arrive within {seconds:g} s "
                       "(serving.header_timeout_seconds); the connection is closed"}, separators=(",", ":")).encode()
    head = h11.Response(status_code=408, reason=b"Request Timeout", headers=[
        ("content-type", "application/json"), ("content-length", str(len(body))), ("connection", "close")])
    return connection.send(head) + connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage())


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on the client's sending while the app does not hold its request.

    The deadline starts when the connection opens, or with the first byte of a request on a kept-alive
    connection, and stops once the request head is complete (the body is then `BodyLimits`' business).
    It also bounds a body the service answered early (413) and is still draining. An idle kept-alive
    connection is left to uvicorn's own `timeout_keep_alive`.
    """

    head_timeout_seconds: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._watch_client()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_client()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _waiting_for_client(self) -> bool:
        """Return whether the service waits on the client's bytes with no app reading them: a head, or an answered body."""
        state = self.conn.their_state
        answered = self.cycle is None or self.cycle.response_complete
        return state is h11.IDLE or (state is h11.SEND_BODY and answered)

    def _watch_client(self) -> None:
        """Start the deadline when the service begins waiting on the client; stop it when the app takes the request."""
        if not self._waiting_for_client():
            self._stop_head_timer()
        elif self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        """Cancel the deadline, if it runs."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        """Close the connection; first answer 408 when a request head was begun and is still incomplete."""
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self.transport.write(head_timeout_answer(self.conn, self.head_timeout_seconds))
        self.transport.close()


def protocol_with_head_timeout(seconds: float) -> type[HeadDeadlineProtocol]:
    """Return the HTTP protocol class for uvicorn with this head deadline (uvicorn builds one per connection)."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout_seconds": seconds})
