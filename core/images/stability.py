"""The Stability AI REST v2beta client (httpx, async) and the seed's `ImageGenerator`.

`StabilityClient` is the typed layer: inputs are checked before any request (`prepare_*`
returns a request that cannot be refused for a reason we could have seen), every request
passes the client-side rate limiter, 5xx and network failures are retried with backoff, and
each refusal becomes a core error (InvalidInput, ConfigError, OutOfCredits, ContentModerated,
RateLimited, ServiceUnavailable). `ImageGenerator` is the seed's facade on it: the same
operations returning `(ok, image_bytes, message)`.

The API key is read from settings only when a request is built and only put in the
`Authorization` header; it never appears in a message, a log line or an exception.

Answers are bounded: each request (with its retries) has one total deadline of
`timeout_seconds` rather than a per-read one, bodies are read by streaming up to
MAX_RESPONSE_BYTES (inflated here, so a gzip bomb counts at its real size), redirects are not
followed, and an answer that is not a whole image is a BadResponse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

import core.images.validation as check
from core.config import ImageSettings, Settings
from core.errors import (
    AbbyError,
    BadResponse,
    ConfigError,
    ContentModerated,
    InvalidInput,
    RateLimited,
    ServiceUnavailable,
)
from core.http_body import WIRE_HEADERS, BoundedBody
from core.images._responses import json_body, raise_for_status
from core.images.limiter import RateLimiter

log = logging.getLogger(__name__)

GENERATE_PATHS = {
    "core": "/v2beta/stable-image/generate/core",
    "ultra": "/v2beta/stable-image/generate/ultra",
    "sd3": "/v2beta/stable-image/generate/sd3",
}
UPSCALE_PATHS = {
    "fast": "/v2beta/stable-image/upscale/fast",
    "conservative": "/v2beta/stable-image/upscale/conservative",
    "creative": "/v2beta/stable-image/upscale/creative",
}
RESULTS_PATH = "/v2beta/results/{id}"
UPSCALE_MODES = tuple(UPSCALE_PATHS)
FAST_UPSCALE_FACTOR = 4
# The largest answer is a fast 4x upscale, about 16 megapixels: some 20-30 MB as PNG. Twice
# that and more still bounds what one request can put in memory.
MAX_RESPONSE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    content_type: str
    seed: int | None
    finish_reason: str
    operation: str  # generate, edit, upscale
    model: str


@dataclass(frozen=True)
class PreparedRequest:
    """A validated request: where it goes and its multipart parts (no secrets in here)."""

    operation: str
    path: str
    model: str
    fields: dict[str, str]
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    asynchronous: bool = False  # creative upscale: POST returns an id to poll


Sleep = Callable[[float], Awaitable[None]]


class StabilityClient:
    def __init__(
        self,
        settings: ImageSettings,
        *,
        limiter: RateLimiter,
        max_image_bytes: int,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.max_image_bytes = max_image_bytes
        self.max_response_bytes = max_response_bytes
        self._transport = transport
        self._sleep = sleep

    # --- validation (no I/O) -------------------------------------------------------------

    def prepare_generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        negative_prompt: str | None = None,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        style_preset: str | None = None,
        output_format: str | None = None,
    ) -> PreparedRequest:
        """Check a text-to-image request. Raises InvalidInput."""
        model = model or self.settings.model
        if model not in GENERATE_PATHS:
            raise InvalidInput(f"unknown model {model!r}; choose one of: core, ultra, sd3")
        fields = self._common(prompt, negative_prompt, seed, style_preset, output_format)
        aspect = check.check_aspect(aspect_ratio)
        if aspect:
            fields["aspect_ratio"] = aspect
        if model == "sd3":
            fields["mode"] = "text-to-image"
        return PreparedRequest("generate", GENERATE_PATHS[model], model, fields)

    def prepare_edit(
        self,
        prompt: str,
        image: bytes,
        *,
        strength: float,
        negative_prompt: str | None = None,
        seed: int | None = None,
        style_preset: str | None = None,
        output_format: str | None = None,
    ) -> PreparedRequest:
        """Check an image-to-image request (SD3, mode=image-to-image). Raises InvalidInput."""
        fields = self._common(prompt, negative_prompt, seed, style_preset, output_format)
        fields["strength"] = f"{check.check_strength(strength):g}"
        fields["mode"] = "image-to-image"
        kind = check.check_image(image, self.max_image_bytes, "input image")
        files = {"image": ("image." + check.EXTENSIONS[kind], bytes(image), kind)}
        return PreparedRequest("edit", GENERATE_PATHS["sd3"], "sd3", fields, files)

    def prepare_upscale(
        self,
        image: bytes,
        *,
        scale: int = FAST_UPSCALE_FACTOR,
        mode: str = "fast",
        prompt: str | None = None,
        seed: int | None = None,
        output_format: str | None = None,
    ) -> PreparedRequest:
        """Check an upscale request. `fast` multiplies by 4; `conservative` and `creative` go
        to about 4 megapixels and need a prompt. Raises InvalidInput."""
        if mode not in UPSCALE_PATHS:
            raise InvalidInput(
                f"unknown upscale mode {mode!r}; choose one of: fast, conservative, creative"
            )
        if mode == "fast" and scale != FAST_UPSCALE_FACTOR:
            raise InvalidInput("the fast upscaler multiplies by 4 only: use --scale 4")
        fields = {"output_format": self._format(output_format)}
        if mode != "fast":
            fields["prompt"] = check.check_prompt(prompt or "", "upscale prompt")
            if seed is not None:
                fields["seed"] = str(check.check_seed(seed))
        kind = check.check_image(image, self.max_image_bytes, "input image")
        files = {"image": ("image." + check.EXTENSIONS[kind], bytes(image), kind)}
        return PreparedRequest(
            "upscale",
            UPSCALE_PATHS[mode],
            f"upscale-{mode}",
            fields,
            files,
            asynchronous=mode == "creative",
        )

    def _common(
        self,
        prompt: str,
        negative_prompt: str | None,
        seed: int | None,
        style_preset: str | None,
        output_format: str | None,
    ) -> dict[str, str]:
        fields = {
            "prompt": check.check_prompt(prompt),
            "output_format": self._format(output_format),
        }
        if negative_prompt:
            fields["negative_prompt"] = check.check_prompt(negative_prompt, "negative prompt")
        checked_seed = check.check_seed(seed)
        if checked_seed is not None:
            fields["seed"] = str(checked_seed)
        style = check.check_style(style_preset)
        if style:
            fields["style_preset"] = style
        return fields

    def _format(self, output_format: str | None) -> str:
        value = output_format or self.settings.output_format
        if value not in check.IMAGE_TYPES:
            raise InvalidInput(f"unknown output format {value!r}; choose png, jpeg or webp")
        return value

    def require_key(self) -> str:
        key = self.settings.api_key
        if key is None or not key.get_secret_value():
            raise ConfigError("no Stability API key: set ABBY_IMAGES__API_KEY (images.api_key)")
        return key.get_secret_value()

    # --- requests ---------------------------------------------------------------------

    async def send(self, request: PreparedRequest) -> GeneratedImage:
        """Send a prepared request and return the image, polling when it is asynchronous."""
        key = self.require_key()
        async with self._client(key) as client:
            if not request.asynchronous:
                response = await self._call(client, "POST", request.path, request, accept="image/*")
                return self._image(request, response)
            response = await self._call(
                client, "POST", request.path, request, accept="application/json"
            )
            job = json_body(response).get("id")
            if not isinstance(job, str) or not job or "/" in job:
                raise ServiceUnavailable("Stability did not return a job id for the upscale")
            return await self._poll(client, request, job)

    async def generate(self, prompt: str, **options: Any) -> GeneratedImage:  # noqa: ANN401 - prepare_generate's keywords
        return await self.send(self.prepare_generate(prompt, **options))

    async def edit(self, prompt: str, image: bytes, **options: Any) -> GeneratedImage:  # noqa: ANN401 - prepare_edit's keywords
        return await self.send(self.prepare_edit(prompt, image, **options))

    async def upscale(self, image: bytes, **options: Any) -> GeneratedImage:  # noqa: ANN401 - prepare_upscale's keywords
        return await self.send(self.prepare_upscale(image, **options))

    def _client(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.settings.base_url.rstrip("/"),
            # Only the encodings BoundedBody inflates within its cap.
            headers={"Authorization": f"Bearer {key}", "Accept-Encoding": "gzip, deflate"},
            timeout=self.settings.timeout_seconds,
            # A redirect would carry the key and the prompt to wherever it points.
            follow_redirects=False,
            transport=self._transport,
        )

    async def _poll(
        self, client: httpx.AsyncClient, request: PreparedRequest, job: str
    ) -> GeneratedImage:
        deadline = time.monotonic() + self.settings.poll_deadline_seconds
        path = RESULTS_PATH.format(id=job)
        while True:
            response = await self._call(client, "GET", path, None, accept="image/*")
            if response.status_code != 202:
                return self._image(request, response)
            if time.monotonic() + self.settings.poll_interval_seconds > deadline:
                raise ServiceUnavailable(
                    f"the upscale job {job} is still running after "
                    f"{self.settings.poll_deadline_seconds:g} s; retry later"
                )
            await self._sleep(self.settings.poll_interval_seconds)

    async def _call(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        request: PreparedRequest | None,
        *,
        accept: str,
    ) -> httpx.Response:
        """One request through the limiter, retried on 5xx and network errors.

        The retries share one deadline of `timeout_seconds`, which starts once the limiter
        has let the first attempt through; a timeout is therefore never retried.
        """
        retries = self.settings.max_retries
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        for attempt in range(retries + 1):
            await self.limiter.acquire()
            if deadline is None:
                deadline = loop.time() + self.settings.timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    response = await self._exchange(client, method, path, request, accept)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise ServiceUnavailable(
                    f"Stability did not answer within {self.settings.timeout_seconds:g} s"
                ) from exc
            except httpx.RemoteProtocolError as exc:  # e.g. closed short of Content-Length
                failure: AbbyError = BadResponse("Stability broke off its answer; retry later")
                cause: Exception = exc
            except httpx.TransportError as exc:
                failure = ServiceUnavailable(f"cannot reach Stability ({type(exc).__name__})")
                cause = exc
            else:
                if response.status_code < 500:
                    if response.status_code == 429:
                        self.limiter.lock_out()
                        raise RateLimited(
                            "Stability's rate limit was exceeded (150 requests per 10 s); "
                            f"requests pause for {self.settings.lockout_seconds:g} s",
                            retry_after=self.settings.lockout_seconds,
                        )
                    raise_for_status(response)
                    return response
                failure = ServiceUnavailable(
                    f"Stability failed with HTTP {response.status_code}; retry later"
                )
                cause = httpx.HTTPStatusError(
                    "server error", request=response.request, response=response
                )
            delay = self.settings.retry_backoff_seconds * (2**attempt)
            if attempt < retries and loop.time() + delay < deadline:
                log.warning(
                    "Stability request failed (%s); retry %d in %.1f s", failure, attempt + 1, delay
                )
                await self._sleep(delay)
                continue
            raise failure from cause
        raise AssertionError("unreachable")

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        request: PreparedRequest | None,
        accept: str,
    ) -> httpx.Response:
        """Send one request and read its body within the cap; the answer comes back whole."""
        files: dict[str, Any] | None = None
        if request is not None:
            # Every field as a form part (filename None): Stability wants multipart even
            # when no file is sent.
            files = {k: (None, v) for k, v in request.fields.items()}
            files.update(request.files)
        outgoing = client.build_request(method, path, files=files, headers={"Accept": accept})
        response = await client.send(outgoing, stream=True)
        try:
            body = BoundedBody(
                self.max_response_bytes,
                encoding=response.headers.get("content-encoding"),
                service="Stability",
            )
            body.check_length(response.headers.get("content-length"))
            data = bytearray()
            async for raw in response.aiter_raw():
                data += body.feed(raw)
            body.finish()
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in WIRE_HEADERS]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(data), request=outgoing
        )

    def _image(self, request: PreparedRequest, response: httpx.Response) -> GeneratedImage:
        reason = response.headers.get("finish-reason", "SUCCESS").upper()
        if reason == "CONTENT_FILTERED":
            # The API answered 200 and charged the credits; the (blurred) image is dropped.
            raise ContentModerated(
                "Stability's content filter blocked this image; try a different prompt",
                charged=True,
            )
        if reason != "SUCCESS":
            raise ServiceUnavailable(f"Stability could not finish the image ({reason[:20]})")
        data = response.content
        kind = check.sniff_image_type(data[:16])
        if kind is None:
            raise BadResponse("Stability answered without an image")
        if not _complete(kind, data):
            raise BadResponse(f"Stability sent a truncated image ({len(data)} bytes)")
        seed_header = response.headers.get("seed")
        seed = int(seed_header) if seed_header and seed_header.isdigit() else None
        log.info("Stability %s via %s: %d bytes", request.operation, request.model, len(data))
        return GeneratedImage(data, kind, seed, reason, request.operation, request.model)


def _complete(kind: str, data: bytes) -> bool:
    """Whether an image's bytes run to its format's end marker (a cut body does not)."""
    if kind == "image/png":
        return data.endswith(b"IEND\xaeB`\x82")
    if kind == "image/jpeg":
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if kind == "image/webp":
        # RIFF size field: everything after the first 8 bytes.
        return len(data) >= 12 and int.from_bytes(data[4:8], "little") + 8 <= len(data)
    return True


def make_client(settings: Settings) -> StabilityClient:
    """A Stability client from settings; the limiter's state is shared through the data dir."""
    images = settings.images
    limiter = RateLimiter(
        requests=images.rate_limit_requests,
        window_seconds=images.rate_limit_window_seconds,
        lockout_seconds=images.lockout_seconds,
        state_file=settings.data_dir / "images" / "rate_limit.json",
    )
    return StabilityClient(
        images, limiter=limiter, max_image_bytes=settings.storage.max_image_bytes
    )


class ImageGenerator:
    """The seed's image client: each call returns `(ok, image_bytes, message)`."""

    def __init__(self, client: StabilityClient) -> None:
        self.client = client

    async def _run(self, call: Awaitable[GeneratedImage]) -> tuple[bool, bytes, str]:
        try:
            image = await call
        except AbbyError as exc:
            return False, b"", str(exc)
        seed = f" (seed {image.seed})" if image.seed is not None else ""
        return True, image.data, f"{image.operation} ok{seed}"

    async def text_to_image(
        self,
        prompt: str,
        style_preset: str | None = None,
        **kwargs: Any,  # noqa: ANN401 - the seed's pass-through keywords
    ) -> tuple[bool, bytes, str]:
        """Generate an image from text. kwargs: model, negative_prompt, aspect_ratio, seed,
        output_format."""
        return await self._run(self.client.generate(prompt, style_preset=style_preset, **kwargs))

    async def image_to_image(
        self,
        prompt: str,
        init_image: bytes,
        strength: float = 0.5,
        **kwargs: Any,  # noqa: ANN401 - the seed's pass-through keywords
    ) -> tuple[bool, bytes, str]:
        """Transform `init_image` by the prompt; strength 0 keeps it, 1 ignores it."""
        return await self._run(self.client.edit(prompt, init_image, strength=strength, **kwargs))

    async def upscale_image(
        self,
        image_bytes: bytes,
        scale: int = FAST_UPSCALE_FACTOR,
        **kwargs: Any,  # noqa: ANN401 - the seed's pass-through keywords
    ) -> tuple[bool, bytes, str]:
        """Upscale an image (fast: 4x; mode='conservative'/'creative' need a prompt)."""
        return await self._run(self.client.upscale(image_bytes, scale=scale, **kwargs))
