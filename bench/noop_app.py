"""The baseline of the webhook benchmark: a FastAPI endpoint that does nothing.

Same path, same server (uvicorn, same loop and HTTP implementation), same generator: whatever it
costs is the floor set by the generator, uvicorn and FastAPI on this machine; the service's ack
time above it is our own work (auth, JSON, classification, the database transaction).

Run: uv run uvicorn --app-dir bench noop_app:app --port P
"""

from __future__ import annotations

from fastapi import FastAPI, Request

app = FastAPI(title="bench no-op")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/webhooks/zapi/{token}")
async def webhook(token: str, request: Request) -> dict[str, str]:
    del token
    await request.body()
    return {"status": "accepted"}
