"""docs/python-api.md is true: its ```python blocks run, in order, against an `abby init` set-up.

Each backend gets a fresh HOME, `abby init --no-prompt`, then one new Python process that
runs every block in a shared namespace, as a reader copying the page into a script would.
A block after `<!-- backend: mongo -->` (or sqlite) runs on that backend only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, ROOT

PAGE = ROOT / "docs" / "python-api.md"
BLOCK = re.compile(r"(?:<!-- backend: (\w+) -->\n)?```python\n(.*?)```", re.S)
RUNNER = """
import json, sys
blocks = json.load(sys.stdin)
namespace = {"__name__": "__doc_example__"}
for number, code in enumerate(blocks, 1):
    try:
        exec(compile(code, f"docs/python-api.md block {number}", "exec"), namespace)
    except BaseException:
        print(f"block {number} failed:\\n{code}", file=sys.stderr)
        raise
print(len(blocks))
"""


def blocks_for(backend: str) -> list[str]:
    found = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    return [code for only, code in found if only in ("", backend)]


def test_the_page_documents_every_function_of_the_seed_api() -> None:
    text = PAGE.read_text(encoding="utf-8")
    seed = (ROOT / "docs" / "python-api.md").parent.parent / "core"
    assert seed.is_dir()
    for name in (
        "save_generation", "get_quota_status", "list_user_files", "delete_file",
        "cleanup_old_files", "generate", "stream_generate", "get_conversation",
        "append_message", "ingest", "query", "delete_document", "list_documents", "get_xp",
        "add_xp", "get_level", "get_leaderboard", "get_balance", "transfer", "add_currency",
        "connect_to_mongodb", "get_collection", "upsert_user", "get_user_profile",
        "update_user_profile", "create_session", "append_session_message", "close_session",
        "text_to_image", "image_to_image", "upscale_image", "get_personality_config",
        "get_random_greeting", "get_random_dismissal", "get_emoji", "encrypt_data",
        "decrypt_data", "hash_password", "verify_password", "setup_logging",
        "emit_heartbeat", "emit_error", "emit_governance_event",
    ):  # fmt: skip
        assert f"`{name}" in text, f"{name} is not on docs/python-api.md"
    assert "abby_core" in text and "discord_profiles" in text and "user_xp" in text


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_python_block_of_the_page_runs_against_an_init_set_up(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    init = [str(Path(sys.executable).parent / "abby"), "init", "--no-prompt", "--json"]
    if backend == "mongo":
        uri = request.getfixturevalue("mongo_uri")
        name = f"t{uuid.uuid4().hex[:16]}"
        init += ["--mongodb-uri", uri, "--database-name", name]
    done = subprocess.run(init, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    blocks = blocks_for(backend)
    assert len(blocks) >= 8
    ran = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(blocks),
        cwd=tmp_path,  # no ./config.yaml here: the user config dir decides, as for a script
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.split()[-1] == str(len(blocks))
