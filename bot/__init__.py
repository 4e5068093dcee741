"""The bundled discord.py bot: cogs that turn Discord events into core calls."""
