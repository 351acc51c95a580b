"""One body limit for every route (webhooks, admin, AgentOS): past MAX_BODY_BYTES, a 413.

Pure ASGI, in front of routing: the body is read (at most the limit, whatever Content-Length
claims or omits) before any route or framework parser sees it, so no handler can be reached with
more, and the answer is the same `{"error", "detail"}` everywhere.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seleto_agent.api.errors import PayloadTooLarge, error_response


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before finishing its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"body larger than {self.limit} bytes"
        response = error_response(PayloadTooLarge.status_code, PayloadTooLarge.code, detail)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then the real channel (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
