"""Chat: `/ask`, `/chat`, and a mention or summon of the bot, all answered by the core's
Assistant (core.llm.assistant) and streamed into Discord (bot.streaming).

The conversation lives in an encrypted session per member and channel. A mention ("@Abby
how do levels work?") or a summon trigger of the persona ("hey abby, ...") starts or
continues it, the persona greeting a new one; a dismissal as a whole short message ("bye
abby", "thanks, that's all") ends it with the persona's dismissal line.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, TypedDict

import discord
from discord import app_commands
from discord.ext import commands

from bot.failures import record_unexpected
from bot.render import NO_PINGS, defused, member_text
from bot.streaming import StreamRelay, sources_line
from bot.where import guild_of, message_guild
from core.errors import AbbyError, ConfigError, OnCooldown
from core.llm.conversation import DIRECT_CHANNEL

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.llm.assistant import Answer, Assistant
    from core.persona.persona import PersonalityConfig

log = logging.getLogger(__name__)


class _Member(TypedDict):
    """Who asks: the core's member keywords (`admit`)."""

    user_id: str
    guild_id: str | None


class _Where(_Member):
    """Who asks and in which channel: the keywords of `stream` and `dismiss`."""

    channel_id: str


class Chat(commands.Cog):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot
        self.persona: PersonalityConfig | None = None

    @property
    def assistant(self) -> Assistant:
        return self.bot.context.assistant

    async def _loaded_persona(self) -> PersonalityConfig:
        # Loaded on first use, not at cog load: `abby bot sync` and `invite-url` load the cogs
        # to read the command tree and must work before `abby init` made a data dir.
        if self.persona is None:
            from core.persona.persona import load_persona

            settings = self.bot.context.settings
            self.persona = await self.bot.run_core(
                load_persona, settings.persona.name, settings.data_dir
            )
        return self.persona

    @app_commands.command(name="ask", description="Ask Abby a question.")
    @app_commands.describe(
        question="What you want to know", use_docs="Answer from this server's documents"
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 2000],
        use_docs: bool = True,
    ) -> None:
        await self._answer_interaction(interaction, question, use_docs=use_docs, greet=False)

    @app_commands.command(name="chat", description="Talk with Abby; she remembers this channel.")
    @app_commands.describe(message="What you want to say")
    async def chat(
        self, interaction: discord.Interaction, message: app_commands.Range[str, 1, 2000]
    ) -> None:
        persona = await self._loaded_persona()
        if persona.is_dismissal(message):
            self.assistant.check_ready()
            closed = await self.bot.run_core(self.assistant.dismiss, **_where_of(interaction))
            line = closed.line if closed else persona.dismissal()
            await interaction.response.send_message(line, allowed_mentions=NO_PINGS)
            return
        await self._answer_interaction(interaction, message, use_docs=self._use_docs, greet=True)

    async def _answer_interaction(
        self, interaction: discord.Interaction, question: str, *, use_docs: bool, greet: bool
    ) -> None:
        # Before the defer: with no LLM the member gets one private line and nothing is called.
        self.assistant.check_ready()
        await self.bot.run_core(self.assistant.admit, **_member_of(interaction))
        await interaction.response.defer(thinking=True)

        async def first(content: str) -> discord.InteractionMessage:
            return await interaction.edit_original_response(
                content=content, allowed_mentions=NO_PINGS
            )

        async def more(content: str) -> discord.WebhookMessage:
            return await interaction.followup.send(content, wait=True, allowed_mentions=NO_PINGS)

        await self._relay(
            StreamRelay(first, more),
            question,
            use_docs=use_docs,
            user_name=interaction.user.display_name if greet else None,
            **_where_of(interaction),
        )

    # --- mentions, summons and dismissals -------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not message.content:
            return
        persona = await self._loaded_persona()
        question = self._addressed(message, persona)
        if question is None and not persona.is_dismissal(message.content):
            return  # not for the bot: the XP listener has it
        where: _Where = {
            "user_id": str(message.author.id),
            "guild_id": message_guild(message),
            "channel_id": str(message.channel.id),
        }
        try:
            if question is None or persona.is_dismissal(question):
                closed = await self.bot.run_core(self.assistant.dismiss, **where)
                if closed is not None:
                    await self._reply(message, closed.line)
                return
            self.assistant.check_ready()
            await self.bot.run_core(self.assistant.admit, where["user_id"], where["guild_id"])
            if not question.strip():  # "hey abby" alone: hello back, nothing to answer
                await self._reply(message, persona.greeting(message.author.display_name))
                return

            async def first(content: str) -> discord.Message:
                return await message.reply(content, mention_author=False, allowed_mentions=NO_PINGS)

            async def more(content: str) -> discord.Message:
                return await message.channel.send(content, allowed_mentions=NO_PINGS)

            await self._relay(
                StreamRelay(first, more),
                question,
                use_docs=self._use_docs,
                user_name=message.author.display_name,
                **where,
            )
        except ConfigError as exc:
            # No LLM or no key: the operators' to fix (the log says what); members who only
            # mentioned the bot are not answered with it in the channel each time.
            log.warning("chat: a mention was not answered: %s", exc.code)
            return
        except OnCooldown:
            # Asking too fast by mentions: no answer, and no refusal either (a reply to each
            # would let one member make the bot flood the channel).
            return
        except AbbyError as exc:
            # A message has no private reply: the member reads the short line in the channel.
            await self._reply(message, member_text(exc))
        except discord.HTTPException as exc:
            await record_unexpected(self.bot.context, exc, "listener", "chat")

    def _addressed(self, message: discord.Message, persona: PersonalityConfig) -> str | None:
        """The question when the message mentions the bot or starts with a summon
        trigger (the mention or trigger removed), else None."""
        me = self.bot.user
        if me is not None and any(user.id == me.id for user in message.mentions):
            return re.sub(rf"<@!?{me.id}>", "", message.content).strip(" ,:")
        return persona.summoned(message.content)

    async def _reply(self, message: discord.Message, text: str) -> None:
        await message.reply(defused(text), mention_author=False, allowed_mentions=NO_PINGS)

    # --- streaming ------------------------------------------------------------------------

    async def _relay(
        self,
        relay: StreamRelay,
        question: str,
        *,
        use_docs: bool,
        user_name: str | None,
        user_id: str,
        guild_id: str | None,
        channel_id: str,
    ) -> None:
        from core.llm.assistant import Opening

        answer: Answer | None = None
        async for item in self.assistant.stream(
            question,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            use_docs=use_docs,
            user_name=user_name,
        ):
            if isinstance(item, str):
                await relay.feed(item)
            elif isinstance(item, Opening):
                relay.lead(item.greeting or "")  # in the first edit, not only the last
            else:
                answer = item
        assert answer is not None
        await relay.finish(_rendered(answer))

    @property
    def _use_docs(self) -> bool:
        return self.bot.context.settings.chat.use_docs


def _rendered(answer: Answer) -> str:
    """The whole answer as members see it: greeting, reply, sources."""
    parts = [
        answer.greeting,
        answer.reply.strip() or "…",
        sources_line([s.title for s in answer.sources]),
    ]
    return "\n\n".join(p for p in parts if p)


def _member_of(interaction: discord.Interaction) -> _Member:
    return {"user_id": str(interaction.user.id), "guild_id": guild_of(interaction)}


def _where_of(interaction: discord.Interaction) -> _Where:
    channel = str(interaction.channel_id) if interaction.channel_id else DIRECT_CHANNEL
    return {**_member_of(interaction), "channel_id": channel}


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Chat(bot))
