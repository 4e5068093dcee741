"""Every command of `abby --help`, walked from the Typer app: with --json it prints exactly
one JSON document on stdout (data, or the error object), and a bad input exits with the
code of the one table (core.errors.ExitCode, docs/troubleshooting.md).

A command added without a row in CASES fails test_every_registered_command_has_a_case:
add its --json run and its bad input there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.context import AppContext
from core.errors import ExitCode
from tests.conftest import Cli
from tests.support.stability_server import make_png

OK, USAGE, NOT_FOUND, REFUSED = ExitCode.OK, ExitCode.USAGE, ExitCode.NOT_FOUND, ExitCode.REFUSED
CONFIG = ExitCode.CONFIG

# command -> (--json run, exit codes it may end with; bad input, its code). "{name}" fields
# are filled from the store the test builds. Without an LLM, a Stability key or a Discord
# token configured, those commands' --json run is their one-line config error (78);
# `bot run --dry-run` reports the missing token in its document instead.
CASES: dict[str, tuple[list[str], set[int], list[str], int]] = {
    "doctor": (["doctor"], {OK}, ["doctor", "--fix", "extra"], USAGE),
    "ask": (["ask", "hello"], {CONFIG}, ["ask", "hello", "--top-k", "0"], USAGE),
    "chat": (["chat"], {CONFIG}, ["chat", "--bogus"], USAGE),
    "backup": (["backup", "-o", "{tmp}/b.tar"], {OK}, ["backup", "--bogus"], USAGE),
    "restore": (
        ["restore", "{tmp}/b.tar", "--dry-run"], {OK, REFUSED},
        ["restore", "{tmp}/missing.tar", "--yes"], NOT_FOUND,
    ),
    "config show": (["config", "show"], {OK}, ["--config", "{tmp}/none.yaml", "config", "show"],
                    CONFIG),
    "config validate": (["config", "validate"], {OK},
                        ["--config", "{tmp}/bad.yaml", "config", "validate"], CONFIG),
    "db init": (["db", "init"], {OK}, ["db", "init", "extra"], USAGE),
    "db status": (["db", "status"], {OK}, ["db", "status", "--bogus"], USAGE),
    "db copy": (["db", "copy", "--to", "sqlite:///{tmp}/copy.db"], {OK},
                ["db", "copy", "--to", "ftp://nowhere"], USAGE),
    "persona list": (["persona", "list"], {OK}, ["persona", "list", "extra"], USAGE),
    "persona show": (["persona", "show"], {OK}, ["persona", "show", "no-such-persona"], NOT_FOUND),
    "persona greet": (["persona", "greet", "Ann"], {OK}, ["persona", "greet"], USAGE),
    "user show": (["user", "show", "u1", "-g", "g1"], {OK}, ["user", "show", "nobody"], NOT_FOUND),
    "user add": (["user", "add", "u9", "--name", "nine"], {OK},
                 ["user", "add", "u1", "--name", "ann", "-g", "g1"], USAGE),
    "user set": (["user", "set", "u1", "bio", "hi", "-g", "g1"], {OK},
                 ["user", "set", "u1", "colour", "red", "-g", "g1"], USAGE),
    "user export": (["user", "export", "u1"], {OK}, ["user", "export", "nobody"], NOT_FOUND),
    "user forget": (["user", "forget", "u1", "--dry-run"], {OK},
                    ["user", "forget", "nobody", "--yes"], NOT_FOUND),
    "xp get": (["xp", "get", "u1", "-g", "g1"], {OK}, ["xp", "get", "a b"], USAGE),
    "xp add": (["xp", "add", "u1", "5", "-g", "g1"], {OK}, ["xp", "add", "u1", "lots"], USAGE),
    "xp leaderboard": (["xp", "leaderboard", "-g", "g1"], {OK},
                       ["xp", "leaderboard", "-n", "0"], USAGE),
    "xp settings": (["xp", "settings", "-g", "g1"], {OK},
                    ["xp", "settings", "min_grant", "lots", "-g", "g1"], USAGE),
    "xp import-mee6": (["xp", "import-mee6", "{tmp}/mee6.json", "-g", "g1", "--dry-run"], {OK},
                       ["xp", "import-mee6", "{tmp}/missing.json", "-g", "g1"], NOT_FOUND),
    "xp rewards list": (["xp", "rewards", "list", "-g", "g1"], {OK},
                        ["xp", "rewards", "list"], USAGE),
    "xp rewards add": (["xp", "rewards", "add", "5", "123", "-g", "g1"], {OK},
                       ["xp", "rewards", "add", "0", "123", "-g", "g1"], USAGE),
    "xp rewards remove": (["xp", "rewards", "remove", "5", "-g", "g1"], {OK},
                          ["xp", "rewards", "remove", "77", "-g", "g1"], NOT_FOUND),
    "bank balance": (["bank", "balance", "u1"], {OK}, ["bank", "balance", "a b"], USAGE),
    "bank add": (["bank", "add", "u2", "10", "--reason", "gift"], {OK},
                 ["bank", "add", "rich", "1", "--reason", "past the cap"], REFUSED),
    "bank transfer": (["bank", "transfer", "u1", "u2", "5"], {OK},
                      ["bank", "transfer", "u2", "u1", "999999"], REFUSED),
    "bank history": (["bank", "history", "u1"], {OK}, ["bank", "history", "u1", "-n", "0"], USAGE),
    "bank daily": (["bank", "daily", "u3", "-g", "g1"], {OK}, ["bank", "daily", "a b"], USAGE),
    "bank top": (["bank", "top"], {OK}, ["bank", "top", "-n", "101"], USAGE),
    "bank audit": (["bank", "audit"], {OK}, ["bank", "audit", "extra"], USAGE),
    "bank recover": (["bank", "recover"], {OK}, ["bank", "recover", "--older-than", "1e20"], USAGE),
    "rag ingest": (["rag", "ingest", "{tmp}/docs"], {OK},
                   ["rag", "ingest", "{tmp}/no-such-folder"], NOT_FOUND),
    "rag query": (["rag", "query", "rotate keys"], {OK}, ["rag", "query", " "], USAGE),
    "rag list": (["rag", "list"], {OK}, ["rag", "list", "extra"], USAGE),
    "rag delete": (["rag", "delete", "{doc_id}", "--dry-run"], {OK},
                   ["rag", "delete", "0" * 32, "--yes"], NOT_FOUND),
    "rag stats": (["rag", "stats"], {OK}, ["rag", "stats", "extra"], USAGE),
    "rag verify": (["rag", "verify"], {OK}, ["rag", "verify", "--repair"], USAGE),
    "rag reindex": (["rag", "reindex", "--dry-run"], {OK}, ["rag", "reindex"], USAGE),
    "rag eval": (["rag", "eval", "{tmp}/eval.jsonl"], {OK},
                 ["rag", "eval", "{tmp}/missing.jsonl"], NOT_FOUND),
    "session list": (["session", "list"], {OK}, ["session", "list", "--status", "open"], USAGE),
    "session show": (["session", "show", "{sid}"], {OK},
                     ["session", "show", "0" * 32], NOT_FOUND),
    "session close": (["session", "close", "{sid}", "--dry-run"], {OK},
                      ["session", "close", "0" * 32, "--yes"], NOT_FOUND),
    "session dump": (["session", "dump", "{sid}"], {OK},
                     ["session", "dump", "{sid}", "-o", "{tmp}/no/such/dir/t.md"], NOT_FOUND),
    "session purge": (["session", "purge", "--dry-run"], {OK}, ["session", "purge"], USAGE),
    "keys generate": (["keys", "generate", "--write"], {OK}, ["keys", "generate", "--json"], USAGE),
    "keys status": (["keys", "status"], {OK}, ["keys", "status", "extra"], USAGE),
    "keys rotate": (["keys", "rotate", "--dry-run"], {OK},
                    ["keys", "rotate", "--batch-size", "0"], USAGE),
    "keys retire": (["keys", "retire", "{old_key}", "--dry-run"], {REFUSED},
                    ["keys", "retire", "nosuchkey", "--yes"], NOT_FOUND),
    "storage quota": (["storage", "quota", "u1"], {OK},
                      ["storage", "quota", "u1", "--level", "-1"], USAGE),
    "storage list": (["storage", "list", "u1"], {OK}, ["storage", "list", "u1", "-n", "0"], USAGE),
    "storage delete": (["storage", "delete", "{file_id}", "--dry-run"], {OK},
                       ["storage", "delete", "f" * 32, "--yes"], NOT_FOUND),
    "storage keep": (["storage", "keep", "{file_id}", "-u", "u1"], {OK},
                     ["storage", "keep", "f" * 32, "-u", "u1"], NOT_FOUND),
    "storage usage": (["storage", "usage"], {OK}, ["storage", "usage", "--top", "0"], USAGE),
    "storage cleanup": (["storage", "cleanup", "--dry-run"], {OK}, ["storage", "cleanup"], USAGE),
    "image generate": (["image", "generate", "a cat", "-u", "u1"], {CONFIG},
                       ["image", "generate", "", "-u", "u1"], USAGE),
    "image edit": (["image", "edit", "{tmp}/cat.png", "a hat", "-u", "u1"], {CONFIG},
                   ["image", "edit", "{tmp}/missing.png", "a hat", "-u", "u1"], NOT_FOUND),
    "image upscale": (["image", "upscale", "{tmp}/cat.png", "-u", "u1"], {CONFIG},
                      ["image", "upscale", "{tmp}/cat.png", "-u", "u1", "-o", "{tmp}/no/x.png"],
                      NOT_FOUND),
    "telemetry tail": (["telemetry", "tail"], {OK}, ["telemetry", "tail", "-n", "0"], USAGE),
    "bot run": (["bot", "run", "--dry-run"], {OK, CONFIG}, ["bot", "run", "extra"], USAGE),
    "bot sync": (["bot", "sync"], {CONFIG}, ["bot", "sync", "--guild", "0"], USAGE),
    "bot invite-url": (["bot", "invite-url", "--client-id", "123"], {OK},
                       ["bot", "invite-url", "--client-id", "0"], USAGE),
    "bot settings": (["bot", "settings", "-g", "g1"], {OK},
                     ["bot", "settings", "colour", "red", "-g", "g1"], USAGE),
    # Last: it writes a config into the user config dir, which later commands would read.
    "init": (["init", "--no-prompt", "--skip-model", "--data-dir", "{tmp}/fresh"], {OK},
             ["init", "--no-prompt", "--skip-model", "--mongodb-uri", "ftp://x"], USAGE),
}  # fmt: skip


def registered_commands() -> list[str]:
    """Every leaf command `abby --help` leads to, as 'group verb' (or 'verb')."""
    from typer.main import get_command

    from abby_cli.main import app

    root = get_command(app)
    names = []
    for name in root.list_commands(None):
        command = root.get_command(None, name)
        children = getattr(command, "commands", None)
        if children is None:
            names.append(name)
        else:
            for verb, child in children.items():
                leaves = getattr(child, "commands", None)  # a group inside a group
                names.extend([f"{name} {verb} {leaf}" for leaf in leaves] if leaves else
                             [f"{name} {verb}"])  # fmt: skip
    return names


def test_every_registered_command_has_a_case() -> None:
    missing = sorted(set(registered_commands()) - set(CASES))
    assert missing == [], f"add these commands to CASES in {__file__}: {missing}"
    assert sorted(set(CASES) - set(registered_commands())) == []


@pytest.fixture
def store(cli, backend_env, context: AppContext, tmp_path: Path) -> dict[str, str]:  # noqa: ANN001
    """A store with something for every command to act on; returns the "{name}" fields."""
    assert cli("db", "init").exit_code == 0
    assert cli("keys", "generate", "--write").exit_code == 0
    old_key = context.keys.ring().primary_id
    context.xp.add("u1", 150, guild_id="g1")
    context.users.upsert("u1", "ann", guild_id="g1")
    context.bank.add("u1", 100)
    context.bank.add("rich", 2**63 - 1)
    sid = context.sessions.create("u1", "c1", "g1")
    context.sessions.append_many(sid, [("user", "hello"), ("assistant", "hi")])
    file_id = context.storage.save("u1", make_png(4, 4)).file_id
    assert cli("keys", "generate", "--write").exit_code == 0  # old_key still protects records
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keys.md").write_text("# Keys\n\nRotate encryption keys with abby keys rotate.")
    (docs / "bank.md").write_text("# Bank\n\nTransfers move coins exactly once.")
    assert cli("rag", "ingest", str(docs)).exit_code == 0
    doc_id = cli("rag", "list", "--json").json()[0]["doc_id"]
    (tmp_path / "mee6.json").write_text(json.dumps({"players": [{"id": "u5", "xp": 40}]}))
    (tmp_path / "eval.jsonl").write_text('{"query": "rotate keys", "expected": "keys.md"}\n')
    (tmp_path / "cat.png").write_bytes(make_png(8, 8))
    (tmp_path / "bad.yaml").write_text("no_such_section: 1\n")
    return {
        "tmp": str(tmp_path),
        "sid": sid,
        "file_id": file_id,
        "doc_id": doc_id,
        "old_key": old_key,
    }


def _argv(template: list[str], fields: dict[str, str]) -> list[str]:
    return [part.format(**fields) for part in template]


def _where_json_goes(argv: list[str]) -> list[str]:
    """--json after the verb (global options such as --config stay in front)."""
    return [*argv, "--json"]


@pytest.mark.slow
def test_every_command_prints_one_json_document_and_exits_by_the_table(
    cli: Cli, store: dict[str, str]
) -> None:
    problems = []
    for name, (good, good_codes, _, _) in CASES.items():
        result = cli(*_where_json_goes(_argv(good, store)))
        try:
            document = json.loads(result.stdout)
        except json.JSONDecodeError:
            problems.append(f"{name}: stdout is not one JSON document\n{result.output}")
            continue
        if result.exit_code not in good_codes:
            wanted = sorted(int(code) for code in good_codes)
            problems.append(f"{name}: exit {result.exit_code}, wanted {wanted}\n{result.output}")
        elif result.exit_code != OK and set(document) != {"error"}:
            problems.append(f"{name}: a failure without the error object\n{result.output}")
    assert not problems, "\n\n".join(problems)


@pytest.mark.slow
def test_every_command_refuses_bad_input_with_the_code_of_the_table(
    cli: Cli, store: dict[str, str]
) -> None:
    problems = []
    for name, (_, _, bad, code) in CASES.items():
        result = cli(*_argv(bad, store))
        lines = result.stderr.strip().splitlines()
        if result.exit_code != code:
            problems.append(f"{name}: exit {result.exit_code}, wanted {code}\n{result.output}")
        elif "Traceback" in result.stderr or (len(lines) != 1 and "--json" not in bad):
            problems.append(f"{name}: not one line on stderr\n{result.output}")
        as_json = cli(*_argv(bad, store), "--json")
        try:
            error = json.loads(as_json.stdout)["error"]
        except (json.JSONDecodeError, KeyError, TypeError):
            problems.append(f"{name}: with --json, not one error document\n{as_json.output}")
            continue
        if as_json.exit_code != code or not error.get("message"):
            problems.append(f"{name}: with --json, exit {as_json.exit_code}\n{as_json.output}")
    assert not problems, "\n\n".join(problems)


def _command(name: str):  # noqa: ANN202 - a Click command
    from typer.main import get_command

    from abby_cli.main import app

    command = get_command(app)
    for word in name.split():
        command = command.get_command(None, word)
    return command


@pytest.mark.slow
def test_every_output_option_refuses_a_folder_that_does_not_exist(
    cli: Cli, store: dict[str, str], tmp_path: Path
) -> None:
    """-o into a missing folder is exit 3 and creates nothing, for every command with -o."""
    with_output = [
        name for name in CASES if any("--output" in param.opts for param in _command(name).params)
    ]
    assert {"session dump", "backup", "user export", "image generate"} <= set(with_output)
    problems = []
    for name in with_output:
        target = tmp_path / "missing" / name.replace(" ", "-") / "out"
        result = cli(*_argv(CASES[name][0], store), "-o", str(target))
        if result.exit_code != NOT_FOUND or "no such directory" not in result.stderr:
            problems.append(f"{name}: exit {result.exit_code}\n{result.output}")
    assert not (tmp_path / "missing").exists()
    assert not problems, "\n\n".join(problems)
