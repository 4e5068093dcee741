"""Chat: `/ask` answers in the persona's voice, remembering the conversation per channel.

The conversation lives in an encrypted session (core.llm.ConversationManager); with
`use_docs` the answer is grounded in this server's knowledge base.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import NO_PINGS, defused, fit_content
from core.llm.answer import build_prompt


class Chat(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

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
        context = self.bot.context
        user_id = str(interaction.user.id)
        guild_id = str(interaction.guild_id) if interaction.guild_id else None
        channel_id = str(interaction.channel_id) if interaction.channel_id else "direct"
        await interaction.response.defer(thinking=True)
        where = {"guild_id": guild_id, "channel_id": channel_id}
        history = await self.bot.run_core(context.conversations.get_conversation, user_id, **where)
        results = []
        if use_docs:
            results = await self.bot.run_core(
                context.rag.query, question, guild_id=guild_id, user_id=user_id, top_k=4
            )
        persona = await self.bot.run_core(self._persona)
        reply = await context.llm.generate(
            build_prompt(question, results), system_prompt=persona.system_prompt, history=history
        )
        await self.bot.run_core(
            context.conversations.append_message, user_id, "user", question, **where
        )
        await self.bot.run_core(
            context.conversations.append_message, user_id, "assistant", reply, **where
        )
        # The reply is the model's, steered by the member and by documents: it never pings.
        await interaction.followup.send(
            fit_content(defused(reply)) or "…", allowed_mentions=NO_PINGS
        )

    def _persona(self):  # noqa: ANN202 - PersonalityConfig
        from core.persona import load_persona

        settings = self.bot.context.settings
        return load_persona(settings.persona.name, settings.data_dir)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Chat(bot))
