"""Write config.example.yaml from the settings models, so it documents every key and default.

Run `python scripts/gen_config_example.py` after adding a setting; the test suite fails when
the committed file is stale (`--check` mode, as in tests/core/test_config.py).
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Settings

TARGET = Path(__file__).resolve().parent.parent / "config.example.yaml"
HEADER = """\
# Abby configuration: every key with its default. Copy to config.yaml and keep what you change.
# Precedence, later wins: defaults < this file < ABBY_* environment variables (nested with __,
# e.g. ABBY_DATABASE__URI) < command-line flags. Unknown keys are errors (exit 78).
# Secrets (tokens, API keys, encryption keys, a MongoDB URI with a password) belong in the
# environment, not in this file; `abby config show` masks them.
"""


def _scalar(value: object) -> str:
    if isinstance(value, SecretStr):
        return "null  # secret: set it in the environment"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _source_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in core/config.py: the lines above it and the one on its line."""
    import inspect
    import re

    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# ").strip())
            continue
        match = re.match(r"(\w+): [^=]+=.*?(?:#\s*(.*))?$", stripped)
        if match:
            text = " ".join([*pending, match.group(2) or ""]).strip()
            if text:
                comments[match.group(1)] = text
        pending = []
    return comments


def _constraints(field: FieldInfo) -> str:
    """What a value must be, from the field's type and bounds."""
    parts: list[str] = []
    choices = [a for a in typing.get_args(field.annotation) if typing.get_origin(a) is Literal]
    if typing.get_origin(field.annotation) is Literal:
        choices = [field.annotation]
    for choice in choices:
        parts.append("one of: " + ", ".join(str(c) for c in typing.get_args(choice)))
    for rule in field.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(rule, attr, None) is not None:
                parts.append(f"{symbol} {getattr(rule, attr)}")
    return ", ".join(parts)


def _join(comment: str | None, rules: str) -> str:
    if comment and rules:
        return f"{comment}{'' if comment.endswith('.') else ';'} {rules}"
    return comment or rules


def render_model(model: type[BaseModel], instance: BaseModel, indent: int) -> list[str]:
    lines: list[str] = []
    pad = "  " * indent
    comments = _source_comments(model)
    for name, field in model.model_fields.items():
        if name == "config_file":
            continue
        value = getattr(instance, name)
        if isinstance(value, BaseModel):
            doc = (type(value).__doc__ or "").strip().splitlines()
            lines.append(f"{pad}{name}:" + (f"  # {doc[0]}" if doc else ""))
            lines.extend(render_model(type(value), value, indent + 1))
            continue
        if SecretStr in typing.get_args(field.annotation):
            comments[name] = " ".join(
                x for x in (comments.get(name), "Secret: set it in the environment.") if x
            )
        note = _join(comments.get(name), _constraints(field))
        if note:
            lines.append(f"{pad}# {note}")
        if name == "data_dir":
            value = "data"
        lines.append(f"{pad}{name}: {_scalar(value)}")
    return lines


def render() -> str:
    defaults = Settings.model_construct()
    body = render_model(Settings, defaults, 0)
    return HEADER + "\n".join(body) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print("config.example.yaml is stale: run python scripts/gen_config_example.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
