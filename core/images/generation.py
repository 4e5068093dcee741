"""Generation: quota reservation, the Stability call and the storage save, as one operation.

Order matters. Inputs are checked first (no unit is taken for a typo), then one daily unit is
reserved atomically, then the API is called; whenever no image comes back (a refusal that
charged nothing, a malformed or oversized answer, a timeout, a cancelled request, a bug),
the unit is given back. A successful image is saved (temp file + rename, then its record) before the
result is returned. A content-filtered image is charged by Stability, so its unit is kept,
and the image itself is never stored.

The service is async (the API call); database and disk work runs in worker threads so the
bot's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import AbbyError, InvalidInput
from core.ids import check_id
from core.images.stability import (
    FAST_UPSCALE_FACTOR,
    GENERATE_PATHS,
    GeneratedImage,
    PreparedRequest,
    StabilityClient,
)
from core.images.validation import MAX_SEED
from core.storage.files import StorageManager
from core.storage.quota import QuotaManager
from core.storage.repository import FileRecord

log = logging.getLogger(__name__)

# How far a variation may move from its source: 0 keeps it, 1 ignores it.
VARY_STRENGTH = 0.6


@dataclass(frozen=True)
class GenerationResult:
    ok: bool
    file_id: str
    path: str
    bytes: int
    seed: int | None
    finish_reason: str
    content_type: str
    quota: dict[str, Any]


@dataclass(frozen=True)
class Requester:
    """Who asks: the quota depends on the guild, the member's roles and level."""

    user_id: str
    guild_id: str | None = None
    roles: tuple[str, ...] = ()
    level: int = 0


class GenerationService:
    def __init__(
        self, *, storage: StorageManager, quota: QuotaManager, client: StabilityClient
    ) -> None:
        self.storage = storage
        self.quota = quota
        self.client = client

    async def generate(
        self,
        requester: Requester,
        prompt: str,
        *,
        style: str | None = None,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        model: str | None = None,
        negative_prompt: str | None = None,
    ) -> GenerationResult:
        """Text to image for a user; stored, charged. Raises the core errors of the API."""
        request = self.client.prepare_generate(
            prompt,
            model=model,
            negative_prompt=negative_prompt,
            aspect_ratio=aspect_ratio,
            seed=seed,
            style_preset=style,
        )
        meta = {"prompt": request.fields["prompt"], "style": style, "aspect_ratio": aspect_ratio}
        return await self._run(requester, request, meta)

    async def edit(
        self,
        requester: Requester,
        image: bytes,
        prompt: str,
        *,
        strength: float = 0.5,
        seed: int | None = None,
        style: str | None = None,
        negative_prompt: str | None = None,
    ) -> GenerationResult:
        request = self.client.prepare_edit(
            prompt,
            image,
            strength=strength,
            seed=seed,
            style_preset=style,
            negative_prompt=negative_prompt,
        )
        meta = {"prompt": request.fields["prompt"], "style": style, "strength": strength}
        return await self._run(requester, request, meta)

    async def upscale(
        self,
        requester: Requester,
        image: bytes,
        *,
        scale: int = 4,
        mode: str = "fast",
        prompt: str | None = None,
        source_file_id: str | None = None,
    ) -> GenerationResult:
        request = self.client.prepare_upscale(image, scale=scale, mode=mode, prompt=prompt)
        meta = {"scale": scale, "mode": mode, "source_file_id": source_file_id}
        return await self._run(requester, request, meta)

    async def upscale_stored(
        self, requester: Requester, file_id: str, *, mode: str = "fast"
    ) -> GenerationResult:
        """Upscale one of the requester's stored files (the bot's button); the result keeps
        the source's prompt, so it can be regenerated and shown in the gallery."""
        source, data = await asyncio.to_thread(self._source, requester, file_id)
        request = self.client.prepare_upscale(data, mode=mode)
        meta = {
            **_prompt_of(source),
            "scale": FAST_UPSCALE_FACTOR if mode == "fast" else None,
            "mode": mode,
            "source_file_id": source.file_id,
        }
        return await self._run(requester, request, meta)

    async def regenerate(self, requester: Requester, file_id: str) -> GenerationResult:
        """Text to image again from one of the requester's stored images: same prompt, style
        and aspect ratio, a new seed. Charged like `generate`. Raises UnknownFile for a file
        that is not the requester's, InvalidInput for one without a prompt (an upload)."""
        source = await asyncio.to_thread(self.storage.owned, file_id, requester.user_id)
        meta = source.metadata
        prompt = meta.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInput("this image has no prompt to generate it again from")
        model = meta.get("model")
        return await self.generate(
            requester,
            prompt,
            style=meta.get("style"),
            aspect_ratio=meta.get("aspect_ratio"),
            seed=new_seed(meta.get("seed")),
            model=model if model in GENERATE_PATHS else None,
        )

    async def vary(
        self, requester: Requester, file_id: str, *, strength: float = VARY_STRENGTH
    ) -> GenerationResult:
        """Image to image from one of the requester's stored images, by its own prompt and a
        new seed. Charged like `edit`. Raises UnknownFile, InvalidInput (no prompt)."""
        source, data = await asyncio.to_thread(self._source, requester, file_id)
        prompt = source.metadata.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInput("this image has no prompt to vary it by")
        request = self.client.prepare_edit(
            prompt,
            data,
            strength=strength,
            seed=new_seed(source.metadata.get("seed")),
            style_preset=source.metadata.get("style"),
        )
        meta = {
            **_prompt_of(source),
            "strength": strength,
            "source_file_id": source.file_id,
        }
        return await self._run(requester, request, meta)

    def _source(self, requester: Requester, file_id: str) -> tuple[FileRecord, bytes]:
        record = self.storage.owned(file_id, requester.user_id)
        return record, self.storage.read(record.file_id, requester.user_id)

    async def _run(
        self, requester: Requester, request: PreparedRequest, meta: dict[str, Any]
    ) -> GenerationResult:
        user_id = check_id(requester.user_id, "user id")
        self.client.require_key()  # a missing key is a config error, not a spent unit
        reservation = await asyncio.to_thread(
            self.quota.reserve, user_id, requester.guild_id, requester.roles, requester.level
        )
        try:
            image: GeneratedImage = await self.client.send(request)
        except BaseException as exc:
            # BaseException: a cancelled task (the bot's interaction, Ctrl-C) delivered
            # nothing either. Only a refusal Stability charged for keeps the unit.
            charged = isinstance(exc, AbbyError) and exc.fields.get("charged")
            if not charged:
                await asyncio.shield(asyncio.to_thread(self.quota.release, reservation))
                code = exc.code if isinstance(exc, AbbyError) else type(exc).__name__
                log.info("generation for user %s failed (%s); unit released", user_id, code)
            raise
        metadata = {
            **{k: v for k, v in meta.items() if v is not None},
            "operation": image.operation,
            "model": image.model,
            "seed": image.seed,
            "finish_reason": image.finish_reason,
        }
        record = await asyncio.to_thread(
            self.storage.save, user_id, image.data, metadata, guild_id=requester.guild_id
        )
        status = await asyncio.to_thread(
            self.quota.status, user_id, requester.guild_id, requester.roles, requester.level
        )
        return GenerationResult(
            ok=True,
            file_id=record.file_id,
            path=str(self.storage.absolute(record)),
            bytes=record.bytes,
            seed=image.seed,
            finish_reason=image.finish_reason,
            content_type=image.content_type,
            quota=status.as_dict(),
        )


def new_seed(old: object = None) -> int:
    """A random seed other than `old`, so a regeneration is never the same picture."""
    while True:
        seed = secrets.randbelow(MAX_SEED + 1)
        if seed != old:
            return seed


def _prompt_of(source: FileRecord) -> dict[str, Any]:
    """What a derived image inherits from its source: its prompt and how it was asked for."""
    return {k: source.metadata.get(k) for k in ("prompt", "style", "aspect_ratio")}


def requester(
    user_id: str,
    guild_id: str | None = None,
    roles: Iterable[str] | None = None,
    level: int | None = None,
) -> Requester:
    return Requester(
        check_id(user_id, "user id"),
        None if guild_id is None else check_id(guild_id, "guild id"),
        tuple(r.strip() for r in (roles or ()) if r.strip()),
        level or 0,
    )
