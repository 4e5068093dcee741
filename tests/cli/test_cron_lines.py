"""The README's cron lines, run the way cron runs them, against a set-up from `abby init`.

Cron starts `/bin/sh -c LINE` with HOME, a PATH of /usr/bin:/bin and nothing else, in the
home directory. Before `abby init`, the lines without a config or data dir audited a new,
empty database in $HOME/data and reported success. Now they name the venv's abby and the
config file by absolute path: they act on the set-up, and without one they exit 78 and
create nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.setup import cron_lines
from tests.conftest import ROOT

ABBY = str(Path(sys.executable).parent / "abby")
# The example machine the README shows (a user `abby`, the venv in ~/abby/.venv).
EXAMPLE_ABBY = "/home/abby/abby/.venv/bin/abby"
EXAMPLE_CONFIG = "/home/abby/.config/abby/config.yaml"
EXAMPLE_LOG = "/home/abby/abby-cron.log"
EXAMPLE_DOCS = "/srv/community-docs"


def readme_block(language: str, after: str) -> str:
    """The first ```language block of the README after the heading `after`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(after) :]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no ```{language} block after {after!r} in README.md"
    return match.group(1)


def readme_cron_lines() -> list[str]:
    return readme_block("cron", "## Cron and systemd").strip().splitlines()


def for_this_machine(line: str, home: Path, docs: Path) -> str:
    """A README line with the example machine's paths replaced by this test's."""
    config = home / ".config" / "abby" / "config.yaml"
    return (
        line.replace(EXAMPLE_ABBY, ABBY)
        .replace(EXAMPLE_CONFIG, str(config))
        .replace(EXAMPLE_LOG, str(home / "abby-cron.log"))
        .replace(EXAMPLE_DOCS, str(docs))
    )


def run_as_cron(line: str, home: Path) -> int:
    """Run the command part of a crontab line as cron does; return its exit status."""
    command = line.split(None, 5)[5]  # the five time fields, then the command
    done = subprocess.run(
        ["/usr/bin/env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "/bin/sh", "-c", command],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout == "" and done.stderr == "", "everything goes to the log"
    return done.returncode


def log_documents(log: Path) -> list[object]:
    """The JSON documents appended to the cron log, in order."""
    text, decoder, found, at = log.read_text(encoding="utf-8"), json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


def test_the_readme_shows_exactly_the_lines_and_unit_abby_init_prints() -> None:
    from core.setup import systemd_unit

    expected = cron_lines(EXAMPLE_ABBY, Path(EXAMPLE_CONFIG), Path(EXAMPLE_DOCS), Path(EXAMPLE_LOG))
    assert readme_cron_lines() == expected
    unit = readme_block("ini", "## Cron and systemd")
    assert unit == systemd_unit(EXAMPLE_ABBY, Path(EXAMPLE_CONFIG))


@pytest.mark.slow
def test_the_readme_cron_lines_act_on_the_set_up_abby_init_made(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    docs = tmp_path / "community-docs"
    docs.mkdir()
    (docs / "rules.md").write_text("# Rules\n\nBe kind. Events are on Fridays at eight.\n")
    (docs / "faq.md").write_text("# FAQ\n\nAsk a moderator to join the book club.\n")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    init = subprocess.run(
        [ABBY, "init", "--no-prompt", "--docs", str(docs), "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    printed = json.loads(init.stdout)["cron"]
    lines = [for_this_machine(line, home, docs) for line in readme_cron_lines()]
    assert lines == printed, "the README's lines are what init printed, paths aside"
    # Something only this set-up holds: a balance the audit must see.
    seeded = subprocess.run(
        [ABBY, "bank", "add", "u1", "250", "--guild", "g1", "--reason", "seed"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr

    assert [run_as_cron(line, home) for line in lines] == [0, 0, 0, 0]
    cleanup, purge, audit, ingest = log_documents(home / "abby-cron.log")
    assert isinstance(cleanup, dict) and "error" not in cleanup, cleanup
    assert isinstance(purge, dict) and "error" not in purge, purge
    assert audit["ok"] is True and audit["scopes"], audit  # the seeded books, not empty ones
    assert ingest["added"] == 2, ingest
    data = home / ".local" / "share" / "abby"
    assert (data / "chroma").is_dir() and (data / "abby.db").is_file()
    assert not (home / "data").exists(), "nothing lands in cron's working directory"


def test_the_readme_cron_lines_with_no_set_up_exit_78_and_create_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    docs = tmp_path / "community-docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\ntext\n")
    lines = [for_this_machine(line, home, docs) for line in readme_cron_lines()]
    assert [run_as_cron(line, home) for line in lines] == [78, 78, 78, 78]
    errors = log_documents(home / "abby-cron.log")
    assert len(errors) == 4
    for error in errors:
        assert error["error"]["code"] == "config_error"
        assert "config.yaml does not exist" in error["error"]["message"]
    assert sorted(p.name for p in home.iterdir()) == ["abby-cron.log"], "only the shell's log"
    assert sorted(p.name for p in docs.iterdir()) == ["a.md"]
