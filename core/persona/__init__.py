"""Personas: the bot's voice — system prompt, greetings, dismissals and emoji.

Loading lives in `core.persona.persona`; this package re-exports it. The seed's functions
(`get_personality_config`, `get_random_greeting`, ...) use the persona named by
`persona.name` in the settings of the current context unless told otherwise.
"""

from __future__ import annotations

from core.errors import UnknownPersona
from core.persona.persona import (
    BUILTIN_DIR,
    MAX_DISMISSAL_CHARS,
    PersonalityConfig,
    available_personas,
    load_persona,
    normalise,
)

__all__ = [
    "BUILTIN_DIR",
    "MAX_DISMISSAL_CHARS",
    "PersonalityConfig",
    "UnknownPersona",
    "available_personas",
    "get_emoji",
    "get_personality_config",
    "get_random_dismissal",
    "get_random_greeting",
    "load_persona",
    "normalise",
]


def _current_persona(persona_name: str | None = None) -> PersonalityConfig:
    from core.context import current

    context = current()
    return load_persona(persona_name or context.settings.persona.name, context.settings.data_dir)


def get_personality_config(persona_name: str | None = None) -> PersonalityConfig:
    """The named persona (default: the configured one)."""
    return _current_persona(persona_name)


def get_random_greeting(user_name: str, emoji: bool = True, include_action: bool = False) -> str:
    """A greeting of the configured persona for `user_name`."""
    return _current_persona().greeting(user_name, emoji=emoji, include_action=include_action)


def get_random_dismissal(emoji: bool = True) -> str:
    """A goodbye of the configured persona."""
    return _current_persona().dismissal(emoji=emoji)


def get_emoji(emoji_key: str, default: str = "") -> str:
    """The configured persona's emoji for `emoji_key`, else `default`."""
    return _current_persona().emoji(emoji_key, default)
