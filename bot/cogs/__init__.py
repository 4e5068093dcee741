"""One cog per domain. Each module has `async def setup(bot)` for `load_extension`."""
