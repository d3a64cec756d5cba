"""Bare ASGI baselines, served under the same uvicorn settings as ``stadsnav run``.

``python -m bench.bare ingest PORT``
or ``python -m bench.bare constant PORT BODY_FILE CONTENT_TYPE [LINK]``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_ACCEPTED = b'{"status":"accepted"}'


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, parse it with orjson and answer 202 (400 if it is not JSON)."""
    if scope["type"] != "http":
        return
    body = await _read_body(receive)
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        await _respond(send, 400, b'{"status":"bad"}', [(b"content-type", b"application/json")])
        return
    await _respond(send, 202, _ACCEPTED, [(b"content-type", b"application/json")])


def constant_app(body: bytes, headers: list[tuple[bytes, bytes]]) -> App:
    """An app answering every request with ``body`` and ``headers``."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _respond(send, 200, body, headers)

    return serve


def serve(asgi: App, port: int) -> None:
    """Run ``asgi`` as ``stadsnav run`` runs its app (see ``stadsnav.cli._server``)."""
    config = uvicorn.Config(
        asgi,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()


def main(argv: list[str]) -> None:
    """Serve the baseline named in ``argv``."""
    kind, port = argv[0], int(argv[1])
    if kind == "ingest":
        serve(app, port)
    elif kind == "constant":
        body = Path(argv[2]).read_bytes()
        headers = [(b"content-type", argv[3].encode())]
        if len(argv) > 4:
            headers.append((b"link", argv[4].encode()))
        serve(constant_app(body, headers), port)
    else:
        raise SystemExit(f"unknown baseline {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
