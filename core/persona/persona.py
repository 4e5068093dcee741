"""Persona loading: the bot's voice — system prompt, greetings, dismissals and emoji.

Built-in personas ship as JSON beside this module; an operator adds or overrides one with
`<data dir>/personas/NAME.json` of the same shape.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InvalidInput, UnknownPersona

BUILTIN_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"[a-z0-9_-]{1,40}")
MAX_DISMISSAL_CHARS = 60
_WORD = re.compile(r"[\w']+")


def normalise(text: str) -> str:
    """Lower case words only: "Thanks, that's all!" and "thanks that’s all" compare equal."""
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _after_words(text: str, count: int) -> str:
    """`text` after its first `count` words, leading punctuation and spaces dropped."""
    matches = list(_WORD.finditer(text.replace("\u2019", "'")))
    if len(matches) <= count:
        return ""
    return text[matches[count - 1].end() :].lstrip(" ,.:;!?-\t\n")


@dataclass(frozen=True)
class PersonalityConfig:
    name: str
    display_name: str
    description: str
    system_prompt: str
    greetings: tuple[str, ...]
    actions: tuple[str, ...]
    dismissals: tuple[str, ...]
    emojis: dict[str, str] = field(default_factory=dict)
    greeting_emoji: str = "wave"
    dismissal_emoji: str = "happy"
    # Phrases that call the bot at the start of a message ("hey abby, ...") and whole short
    # messages that end a conversation ("bye abby"); compared after `normalise`.
    summon_triggers: tuple[str, ...] = ()
    dismissal_triggers: tuple[str, ...] = ()

    def summoned(self, text: str) -> str | None:
        """What follows a summon trigger that starts `text` ("" when nothing does), or None
        when the message does not start with one."""
        words = _words(text)
        for trigger in self.summon_triggers:
            wanted = _words(trigger)
            if wanted and words[: len(wanted)] == wanted:
                return _after_words(text, len(wanted))
        return None

    def is_dismissal(self, text: str) -> bool:
        """Whether `text` as a whole short message is one of the dismissals: "bye abby" is,
        "thanks for the help, I'll read it later" is not."""
        if len(text) > MAX_DISMISSAL_CHARS:
            return False
        said = normalise(text)
        return bool(said) and any(said == normalise(t) for t in self.dismissal_triggers)

    def emoji(self, key: str, default: str = "") -> str:
        return self.emojis.get(key, default)

    def greeting(
        self,
        user_name: str,
        *,
        emoji: bool = True,
        include_action: bool = False,
        rng: random.Random | None = None,
    ) -> str:
        rng = rng or random.Random()
        text = (
            rng.choice(self.greetings)
            .format(user=user_name, emoji=self.emoji(self.greeting_emoji) if emoji else "")
            .strip()
        )
        if include_action and self.actions:
            text = f"{rng.choice(self.actions)} {text}"
        return text

    def dismissal(self, *, emoji: bool = True, rng: random.Random | None = None) -> str:
        rng = rng or random.Random()
        return (
            rng.choice(self.dismissals)
            .format(emoji=self.emoji(self.dismissal_emoji) if emoji else "")
            .strip()
        )


def _parse(data: object, source: str) -> PersonalityConfig:
    if not isinstance(data, dict):
        raise InvalidInput(f"persona file {source} must hold a JSON object")
    try:
        config = PersonalityConfig(
            name=str(data["name"]),
            display_name=str(data.get("display_name", data["name"])),
            description=str(data.get("description", "")),
            system_prompt=str(data["system_prompt"]),
            greetings=tuple(str(g) for g in data["greetings"]),
            actions=tuple(str(a) for a in data.get("actions", ())),
            dismissals=tuple(str(d) for d in data["dismissals"]),
            emojis={str(k): str(v) for k, v in data.get("emojis", {}).items()},
            greeting_emoji=str(data.get("greeting_emoji", "wave")),
            dismissal_emoji=str(data.get("dismissal_emoji", "happy")),
            summon_triggers=tuple(str(t) for t in data.get("summon_triggers", ())),
            dismissal_triggers=tuple(str(t) for t in data.get("dismissal_triggers", ())),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"persona file {source} is missing or mistypes {exc}") from None
    if not config.greetings or not config.dismissals:
        raise InvalidInput(f"persona file {source} needs at least one greeting and dismissal")
    return config


def available_personas(data_dir: Path | None = None) -> list[str]:
    names = {p.stem for p in BUILTIN_DIR.glob("*.json")}
    if data_dir is not None and (data_dir / "personas").is_dir():
        names |= {p.stem for p in (data_dir / "personas").glob("*.json")}
    return sorted(n for n in names if _NAME.fullmatch(n))


def load_persona(name: str, data_dir: Path | None = None) -> PersonalityConfig:
    """Load a persona: the operator's copy in the data dir first, then the built-in one."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"persona name {name!r} is not valid (a-z, 0-9, '-', '_')")
    candidates = [BUILTIN_DIR / f"{name}.json"]
    if data_dir is not None:
        candidates.insert(0, data_dir / "personas" / f"{name}.json")
    for path in candidates:
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InvalidInput(f"persona file {path} is not valid JSON: {exc}") from None
            return _parse(data, str(path))
    raise UnknownPersona(f"no persona named {name!r}")
