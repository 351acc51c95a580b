"""JSON request bodies of our own routes read by the same rules as the webhooks.

FastAPI parses bodies with plain `json.loads`: deep nesting then surfaces as a bare 400 "error
parsing the body", `NaN` is accepted, and strings may carry NUL or lone surrogates into the
database. This route class reads them with `domain.untrusted_json`; anything unreadable is
reported as FastAPI's own `json_invalid` error, which `api/errors.py` answers with 400
`MalformedJson`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from seleto_agent.domain.untrusted_json import UnreadableJson, loads


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = loads(await self.body())
            except UnreadableJson as exc:
                raise json.JSONDecodeError(str(exc), "", 0) from exc
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict
