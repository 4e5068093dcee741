"""Discord's limits on an application command tree, checked before any sync.

Discord refuses a whole bulk sync (HTTP 400) when one command breaks one rule, and the bot
would then never start; checking here turns that into one line naming the command and the
rule. The numbers are those of Discord's "Application Commands" documentation. The checks
run on the JSON payloads the sync would send (`Command.to_dict`), so what is checked is what
Discord would see.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.scope import Scope

if TYPE_CHECKING:
    import discord
    from discord import app_commands

# JSON numbers are doubles in Discord's clients: integer and number options stay within
# ±(2**53 - 1), even though the bank itself counts up to 2**63 - 1.
MAX_INTEGER = 2**53 - 1
MIN_INTEGER = -MAX_INTEGER

NAME_MAX = 32
DESCRIPTION_MAX = 100
OPTIONS_MAX = 25
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_STRING_VALUE_MAX = 100
STRING_LENGTH_MAX = 6000
COMMAND_CHARACTERS_MAX = 4000
CHAT_INPUT_COMMANDS_MAX = 100
CONTEXT_MENUS_MAX = 5  # per type (user, message), per scope

# Discord: ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ with the unicode flag, lowercase
# where a letter has a lowercase form. Python's \w covers letters, digits and the
# Devanagari and Thai marks; it also admits "_", which Discord allows too.
NAME_PATTERN = re.compile(r"^[-_'\w]{1,32}$")

CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, NUMBER = 3, 4, 10


def validate_tree(
    tree: app_commands.CommandTree, *, guild: discord.abc.Snowflake | None = None
) -> list[str]:
    """Every rule Discord would refuse the tree for (global, or one guild's), one line each."""
    return validate_payloads([command.to_dict(tree) for command in tree.get_commands(guild=guild)])


def require_valid_tree(
    tree: app_commands.CommandTree, *, guild: discord.abc.Snowflake | None = None
) -> None:
    """Raise ConfigError naming the first broken rule (and how many more) before a sync."""
    problems = validate_tree(tree, guild=guild)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        where = Scope.of(guild.id if guild is not None else None)
        scope = "global" if where.is_global else where.display  # "the global command tree"
        raise ConfigError(
            f"refusing to sync the {scope} command tree, Discord would reject it: "
            f"{problems[0]}{more}"
        )


def validate_payloads(commands: Iterable[Mapping[str, Any]]) -> list[str]:
    """Check application command payloads as Discord's bulk overwrite does."""
    commands = list(commands)
    problems: list[str] = []
    kinds = Counter(command.get("type", CHAT_INPUT) for command in commands)
    if kinds[CHAT_INPUT] > CHAT_INPUT_COMMANDS_MAX:
        problems.append(
            f"{kinds[CHAT_INPUT]} slash commands: at most {CHAT_INPUT_COMMANDS_MAX} per scope"
        )
    for kind, label in ((USER_COMMAND, "user"), (MESSAGE_COMMAND, "message")):
        if kinds[kind] > CONTEXT_MENUS_MAX:
            problems.append(
                f"{kinds[kind]} {label} context menus: at most {CONTEXT_MENUS_MAX} per scope"
            )
    names = Counter((c.get("type", CHAT_INPUT), c.get("name")) for c in commands)
    problems += [f"/{name}: the name is used twice" for (_, name), n in names.items() if n > 1]
    for command in commands:
        problems += _command_problems(command)
    return problems


def _command_problems(command: Mapping[str, Any]) -> list[str]:
    kind = command.get("type", CHAT_INPUT)
    name = str(command.get("name", ""))
    if kind != CHAT_INPUT:
        # Context menus: 1-32 characters of any case and spaces, no description, no options.
        where = f"context menu {name!r}"
        problems = []
        if not 1 <= len(name) <= NAME_MAX:
            problems.append(f"{where}: the name must be 1-{NAME_MAX} characters")
        if command.get("description") or command.get("options"):
            problems.append(f"{where}: context menus take no description or options")
        return problems
    where = f"/{name}"
    problems = _name_and_description(where, "command", command)
    problems += _options_problems(where, command.get("options") or [], depth=0)
    total = _characters(command)
    if total > COMMAND_CHARACTERS_MAX:
        problems.append(
            f"{where}: names, descriptions and values add up to {total} characters, "
            f"at most {COMMAND_CHARACTERS_MAX}"
        )
    return problems


def _name_and_description(where: str, what: str, item: Mapping[str, Any]) -> list[str]:
    problems = []
    name = str(item.get("name", ""))
    if not NAME_PATTERN.match(name):
        problems.append(
            f"{where}: {what} name {name!r} must be 1-{NAME_MAX} letters, digits, '-' or '_'"
        )
    elif name != name.lower():
        problems.append(f"{where}: {what} name {name!r} must be lowercase")
    description = str(item.get("description", ""))
    if not 1 <= len(description) <= DESCRIPTION_MAX:
        problems.append(
            f"{where}: {what} description is {len(description)} characters, "
            f"must be 1-{DESCRIPTION_MAX}"
        )
    return problems


def _options_problems(where: str, options: list[Mapping[str, Any]], *, depth: int) -> list[str]:
    """Options of a command (depth 0), of a subcommand group (1) or of a subcommand (2)."""
    problems = []
    if len(options) > OPTIONS_MAX:
        problems.append(f"{where}: {len(options)} options, at most {OPTIONS_MAX}")
    names = Counter(str(option.get("name", "")) for option in options)
    problems += [f"{where}: option name {n!r} is used twice" for n, k in names.items() if k > 1]
    nested = [o for o in options if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)]
    if nested and len(nested) != len(options):
        problems.append(f"{where}: subcommands cannot sit beside ordinary options")
    seen_optional = False
    for option in options:
        kind = option.get("type")
        label = f"{where} {option.get('name', '')}"
        if kind == SUB_COMMAND_GROUP and depth > 0:
            problems.append(f"{label}: a subcommand group can only sit directly under a command")
        elif kind == SUB_COMMAND and depth > 1:
            problems.append(f"{label}: a subcommand cannot hold another subcommand")
        what = "subcommand" if kind in (SUB_COMMAND, SUB_COMMAND_GROUP) else "option"
        problems += _name_and_description(label, what, option)
        if kind == SUB_COMMAND_GROUP:
            problems += _options_problems(label, option.get("options") or [], depth=depth + 1)
        elif kind == SUB_COMMAND:
            problems += _options_problems(label, option.get("options") or [], depth=2)
        else:
            if option.get("required"):
                if seen_optional:
                    problems.append(f"{label}: a required option must come before optional ones")
            else:
                seen_optional = True
            problems += _value_problems(label, option)
    return problems


def _value_problems(label: str, option: Mapping[str, Any]) -> list[str]:
    problems = []
    kind = option.get("type")
    for bound in ("min_value", "max_value"):
        value = option.get(bound)
        if value is not None and not MIN_INTEGER <= value <= MAX_INTEGER:
            problems.append(
                f"{label}: {bound} {value} is outside Discord's ±{MAX_INTEGER} (2^53-1)"
            )
    for bound, low in (("min_length", 0), ("max_length", 1)):
        value = option.get(bound)
        if value is not None and not low <= value <= STRING_LENGTH_MAX:
            problems.append(f"{label}: {bound} {value} must be {low}-{STRING_LENGTH_MAX}")
    choices = option.get("choices") or []
    if len(choices) > CHOICES_MAX:
        problems.append(f"{label}: {len(choices)} choices, at most {CHOICES_MAX}")
    for choice in choices:
        name, value = str(choice.get("name", "")), choice.get("value")
        if not 1 <= len(name) <= CHOICE_NAME_MAX:
            problems.append(
                f"{label}: choice name {name[:40]!r} must be 1-{CHOICE_NAME_MAX} characters"
            )
        if kind == STRING and not 1 <= len(str(value)) <= CHOICE_STRING_VALUE_MAX:
            problems.append(
                f"{label}: choice {name[:40]!r} value must be 1-{CHOICE_STRING_VALUE_MAX} "
                "characters"
            )
        elif kind in (INTEGER, NUMBER) and not MIN_INTEGER <= value <= MAX_INTEGER:
            problems.append(
                f"{label}: choice {name[:40]!r} value {value} is outside Discord's "
                f"±{MAX_INTEGER} (2^53-1)"
            )
    return problems


def _characters(item: Mapping[str, Any]) -> int:
    """Discord's per-command budget: names, descriptions and choice names and values."""
    total = len(str(item.get("name", ""))) + len(str(item.get("description", "")))
    for choice in item.get("choices") or []:
        total += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return total + sum(_characters(option) for option in item.get("options") or [])
