"""Write config.example.yaml from the settings models, so it documents every key and default.

Run `python scripts/gen_config_example.py` after adding a setting; the test suite fails when
the committed file is stale (`--check` mode, as in tests/core/test_config.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Settings  # noqa: E402

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


def render_model(model: type[BaseModel], instance: BaseModel, indent: int) -> list[str]:
    lines: list[str] = []
    pad = "  " * indent
    for name, field in model.model_fields.items():
        if name == "config_file":
            continue
        value = getattr(instance, name)
        if field.description:
            lines.append(f"{pad}# {field.description}")
        if isinstance(value, BaseModel):
            doc = (type(value).__doc__ or "").strip().splitlines()
            lines.append(f"{pad}{name}:" + (f"  # {doc[0]}" if doc else ""))
            lines.extend(render_model(type(value), value, indent + 1))
        else:
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
