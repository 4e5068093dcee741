"""Reading an HTTP response body within a byte budget, shared by the LLM and image clients.

The budget counts the bytes that land in memory, so compressed bodies are inflated here
(gzip, deflate) with zlib's `max_length` instead of by the HTTP library: a 1 MB gzip bomb
would otherwise become gigabytes before any check could see it. A Content-Length above the
budget is refused before a byte of the body is read.
"""

from __future__ import annotations

import zlib

from core.errors import BadResponse, ResponseTooLarge

# Hop-by-hop facts about the wire body that no longer hold once it has been decoded here.
WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n / 1024:.0f} KiB"


class BoundedBody:
    """Decode and count one response body; raise once it passes `limit` bytes.

    Raises ResponseTooLarge past the limit and BadResponse for an encoding that is unknown or
    does not decode. `service` names the other side in messages ("Stability").
    """

    def __init__(self, limit: int, *, encoding: str | None, service: str) -> None:
        self.limit = limit
        self.service = service
        self.size = 0
        self.wire = 0
        self.encoding = (encoding or "identity").strip().lower()
        if self.encoding in ("identity", ""):
            self._decoder = None
        elif self.encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            # We only ever ask for gzip and deflate (Accept-Encoding).
            raise BadResponse(f"{service} answered in an encoding we did not ask for")

    def check_length(self, content_length: str | None) -> None:
        """Refuse a declared length above the limit before reading anything."""
        if content_length is None:
            return
        try:
            declared = int(content_length)
        except ValueError:
            raise BadResponse(f"{self.service} sent an invalid Content-Length") from None
        if declared > self.limit:
            raise ResponseTooLarge(
                f"{self.service} announced a body larger than the {_size(self.limit)} limit "
                f"({_size(declared)}); not read",
                limit=self.limit,
            )

    def feed(self, raw: bytes) -> bytes:
        """Decode one chunk off the wire; returns the decoded bytes."""
        self.wire += len(raw)
        if self._decoder is None:
            self._count(len(raw))
            return raw
        pieces = []
        data = raw
        while data and not self._decoder.eof:
            try:
                out = self._decoder.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                raise BadResponse(
                    f"{self.service} sent a {self.encoding} body that does not decompress"
                ) from exc
            self._count(len(out))
            pieces.append(out)
            data = self._decoder.unconsumed_tail
        return b"".join(pieces)

    def finish(self) -> None:
        """Call at the end of the wire body: a compressed stream must be complete."""
        if self._decoder is not None and self.wire and not self._decoder.eof:
            raise BadResponse(f"{self.service} sent a {self.encoding} body that ends early")

    def _count(self, n: int) -> None:
        self.size += n
        if self.size > self.limit:
            raise ResponseTooLarge(
                f"{self.service} sent more than the {_size(self.limit)} limit; reading stopped",
                limit=self.limit,
            )
