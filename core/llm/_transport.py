"""The HTTP transport under the OpenAI SDK: every response body read within a size cap.

The SDK reads bodies through httpx2 and retries whatever httpx2 raises; the cap is enforced
here, below it, and raises Abby's own errors, which the SDK lets through without retrying.
Imported only when the LLM client is built (httpx2 comes with openai).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2

from core.http_body import WIRE_HEADERS, BoundedBody

SERVICE = "the LLM server"


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, body: BoundedBody) -> None:
        self._inner = inner
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for raw in self._inner:
            decoded = self._body.feed(raw)
            if decoded:
                yield decoded
        self._body.finish()

    async def aclose(self) -> None:
        await self._inner.aclose()


class CappedTransport(httpx2.AsyncBaseTransport):
    """Wrap a transport so that no response body passes `cap_for(request)` bytes."""

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, cap_for: Callable[[httpx2.Request], int]
    ) -> None:
        self._inner = inner
        self._cap_for = cap_for

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        try:
            body = BoundedBody(
                self._cap_for(request),
                encoding=response.headers.get("content-encoding"),
                service=SERVICE,
            )
            body.check_length(response.headers.get("content-length"))
        except Exception:
            await response.aclose()
            raise
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in WIRE_HEADERS
        ]
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=headers,
            stream=_CappedStream(response.stream, body),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
