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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import AbbyError
from core.ids import check_id
from core.images.stability import GeneratedImage, PreparedRequest, StabilityClient
from core.storage.files import StorageManager
from core.storage.quota import QuotaManager

log = logging.getLogger(__name__)


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
        """Upscale one of the requester's stored files (the bot's button)."""
        data = await asyncio.to_thread(self.storage.read, file_id, requester.user_id)
        return await self.upscale(requester, data, mode=mode, source_file_id=file_id)

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
