"""`abby backup` / `abby restore`: round trips on both backends, bad archives, crashes.

Real parts only: the real SQLite and MongoDB stand-in, the real Chroma store with the real
local embedding model, worker processes that transfer money while the backup runs, and a
restore process killed with SIGKILL at each phase.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from core.backup import create_backup, restore_backup
from core.backup.restore import PHASES
from core.backup.snapshot import vector_count
from core.config import Settings
from core.context import AppContext
from core.errors import BackupInvalid, BackupTooNew, RestoreTargetNotEmpty
from tests.conftest import Backend, Cli
from tests.contracts.test_member_data import START, populate
from tests.core.security_support import keyed_context, run_python, spawn_python


def exported(ctx: AppContext) -> dict[str, list[dict]]:
    """Every record of every domain, by domain (what a round trip must preserve)."""
    return {domain: list(repo.export()) for domain, repo in ctx.repositories().items()}


def tree_digest(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def target(backend: Backend, tmp_path: Path, name: str = "restored") -> Settings:
    """Settings for an empty place to restore into: a new data dir (and a new database)."""
    env = {**backend.env, "ABBY_DATA_DIR": str(tmp_path / name)}
    if backend.name == "mongo":
        env["ABBY_DATABASE__NAME"] = f"t{uuid.uuid4().hex[:16]}"
    return _settings(env)


def _settings(env: dict[str, str]) -> Settings:
    from core.config import load_settings

    return load_settings(environ=env)


@pytest.fixture
def source(settings: Settings):  # noqa: ANN201
    with keyed_context(settings, START) as (ctx, _clock):
        populate(ctx)
        yield ctx


@pytest.mark.slow
def test_backup_then_restore_into_an_empty_dir_gives_identical_records_vectors_and_files(
    source: AppContext, backend: Backend, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keys.md").write_text("# Keys\n\nRotate keys with abby keys rotate.\n" * 20)
    source.rag.ingest_paths([docs])
    vectors = source.rag.store.count()
    assert vectors > 0
    # The archive holds every vector of the store: the chunks' and each document's own.
    stored = vector_count(source.settings.chroma_path)
    assert stored is not None and stored > vectors
    archive = tmp_path / "b.tar"
    report = create_backup(source, archive, include_keys=True)
    assert archive.stat().st_mode & 0o777 == 0o600
    assert report.vectors == stored and report.files == 1
    before = exported(source)
    files_before = tree_digest(source.settings.storage_root)
    restored_settings = target(backend, tmp_path)
    result = restore_backup(restored_settings, archive)
    assert result.audit_ok and result.counts_match, result
    assert "20 of 20" in result.keys or "decrypt with the key ring" in result.keys
    restored = AppContext(restored_settings)
    try:
        assert exported(restored) == before
        assert restored.rag.store.count() == vectors
        assert vector_count(restored.settings.chroma_path) == stored
        assert tree_digest(restored.settings.storage_root) == files_before
        (session,) = restored.sessions.list(user_id="u1")
        messages = restored.sessions.history(session.session_id, 10)
        assert messages[0].content == "my very private question"
    finally:
        if restored_settings.database.uri is not None:
            restored.database.client.drop_database(restored_settings.database.name)
        restored.close()


def test_a_backup_restores_into_the_other_backend(
    source: AppContext, backend: Backend, tmp_path: Path, mongo_uri: str
) -> None:
    archive = tmp_path / "b.tar"
    create_backup(source, archive)
    other = {"ABBY_DATA_DIR": str(tmp_path / "other")}
    if backend.name == "sqlite":
        name = f"t{uuid.uuid4().hex[:16]}"
        other |= {"ABBY_DATABASE__URI": mongo_uri, "ABBY_DATABASE__NAME": name}
    settings = _settings(other)
    result = restore_backup(settings, archive)
    assert result.audit_ok and result.counts_match, result
    ctx = AppContext(settings)
    try:
        # Key order within a table may differ between backends (the ledger's seq vs time).
        theirs, ours = exported(ctx), exported(source)
        assert theirs.keys() == ours.keys()
        for domain in ours:
            assert sorted(theirs[domain], key=json.dumps) == sorted(ours[domain], key=json.dumps)
    finally:
        if settings.database.uri is not None:
            ctx.database.client.drop_database(settings.database.name)
        ctx.close()


@pytest.mark.slow
def test_without_keys_restore_says_whether_the_ring_decrypts_the_sessions(
    source: AppContext, backend: Backend, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar"
    create_backup(source, archive)
    names = tarfile.open(archive).getnames()
    assert "keys" not in names and "pseudonym.key" not in names
    result = restore_backup(target(backend, tmp_path), archive)
    assert result.keys.startswith("WARNING: no encryption key"), result.keys


# --- bad archives and targets: one line, nothing changed ------------------------------------


def _rewrite(archive: Path, out: Path, change) -> None:  # noqa: ANN001
    """Copy an archive member by member, letting `change(name, data)` alter the bytes."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()
            data = change(member.name, data)
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.fixture
def archive(source: AppContext, tmp_path: Path) -> Path:
    path = tmp_path / "good.tar"
    create_backup(source, path)
    return path


def test_bad_archives_are_refused_before_anything_is_touched(
    archive: Path, backend: Backend, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    restored = target(backend, tmp_path)
    for name, value in (
        ("ABBY_DATA_DIR", str(restored.data_dir)),
        ("ABBY_DATABASE__NAME", restored.database.name),
    ):
        monkeypatch.setenv(name, value)
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    edited = tmp_path / "edited.tar"
    _rewrite(archive, edited, lambda n, d: d[:-1] + b"X" if n.startswith("storage/") else d)
    newer = tmp_path / "newer.tar"

    def bump(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["schema_version"] = 99
        return json.dumps(manifest).encode()

    _rewrite(archive, newer, bump)
    cases = [
        (truncated, 2, "truncated"),
        (edited, 2, "does not match its checksum"),
        (newer, 2, "record schema 99"),
        (tmp_path / "missing.tar", 3, "no such file"),
    ]
    for path, code, needle in cases:
        result = cli("restore", str(path), "--yes")
        assert result.exit_code == code, result.output
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not restored.data_dir.exists(), f"{path.name} touched the data dir"
    assert "storage/" in cli("restore", str(edited)).stderr  # the edited file is named


def test_a_newer_schema_and_an_edit_raise_their_own_types(
    archive: Path, backend: Backend, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.tar"
    _rewrite(archive, edited, lambda n, d: d + b" " if n == "config.json" else d)
    with pytest.raises(BackupInvalid, match="config.json does not match"):
        restore_backup(target(backend, tmp_path), edited)
    newer = tmp_path / "newer.tar"
    _rewrite(archive, newer, lambda n, d: d.replace(b'"schema_version": 1', b'"schema_version": 7'))
    with pytest.raises(BackupTooNew):
        restore_backup(target(backend, tmp_path), newer)


def test_restore_onto_a_dir_with_data_needs_yes_and_keeps_the_old_one_aside(
    archive: Path, source: AppContext, backend: Backend, tmp_path: Path
) -> None:
    if backend.name == "mongo":
        pytest.skip("a MongoDB target must be an empty database (tested below)")
    settings = source.settings
    source.close()
    db_before = hashlib.sha256(settings.sqlite_path.read_bytes()).hexdigest()
    with pytest.raises(RestoreTargetNotEmpty, match="--yes"):
        restore_backup(settings, archive)
    assert hashlib.sha256(settings.sqlite_path.read_bytes()).hexdigest() == db_before
    planned = restore_backup(settings, archive, dry_run=True)
    assert planned.replaces and not Path(planned.replaces).exists()
    result = restore_backup(settings, archive, yes=True)
    assert result.audit_ok and Path(result.replaces).is_dir()
    assert (Path(result.replaces) / "abby.db").is_file()
    assert (settings.data_dir / "keys").is_file(), "the machine's key file stays with it"
    assert "decrypt with the key ring" in result.keys and result.keys.startswith("3 of 3")


@pytest.mark.slow
def test_a_mongo_database_with_data_is_refused_even_with_yes(
    archive: Path, source: AppContext, backend: Backend
) -> None:
    if backend.name != "mongo":
        pytest.skip("MongoDB target")
    with pytest.raises(RestoreTargetNotEmpty, match="empty database"):
        restore_backup(source.settings, archive, yes=True)


# --- crashes ----------------------------------------------------------------------------------

_RESTORE = """
import os, signal, sys
from pathlib import Path
from core.backup import restore_backup
from core.config import load_settings
def step(phase):
    if phase == {phase!r}:
        os.kill(os.getpid(), signal.SIGKILL)
r = restore_backup(load_settings(), Path({archive!r}), yes=True,
                   on_phase=step if {phase!r} else None)
print("AUDIT", r.audit_ok, r.counts_match)
"""


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES)
def test_restore_killed_at_each_phase_leaves_the_original_and_a_rerun_completes(
    archive: Path, source: AppContext, backend: Backend, phase: str
) -> None:
    if backend.name == "mongo":
        pytest.skip("replacing needs the embedded backend (a MongoDB target must be empty)")
    settings = source.settings
    source.close()
    data_dir = settings.data_dir
    original = tree_digest(data_dir)
    killed = run_python(_RESTORE.format(phase=phase, archive=str(archive)), backend.env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if PHASES.index(phase) <= PHASES.index("swap"):
        assert tree_digest(data_dir) == original, "the original changed before the swap"
    rerun = run_python(_RESTORE.format(phase="", archive=str(archive)), backend.env)
    assert rerun.returncode == 0, rerun.stderr
    assert "AUDIT True True" in rerun.stdout, rerun.stdout
    siblings = [p.name for p in data_dir.parent.iterdir()]
    assert f".{data_dir.name}.restoring" not in siblings
    assert any(name.startswith(f"{data_dir.name}.before-") for name in siblings)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["import", "complete", "swap"])
def test_a_restore_into_mongodb_killed_midway_is_finished_by_a_rerun(
    archive: Path, backend: Backend, tmp_path: Path, phase: str
) -> None:
    if backend.name != "mongo":
        pytest.skip("the MongoDB import path (a SQLite target takes the database copy)")
    restored = target(backend, tmp_path)
    env = {
        **backend.env,
        "ABBY_DATA_DIR": str(restored.data_dir),
        "ABBY_DATABASE__NAME": restored.database.name,
    }
    killed = run_python(_RESTORE.format(phase=phase, archive=str(archive)), env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = run_python(_RESTORE.format(phase="", archive=str(archive)), env)
    assert rerun.returncode == 0, rerun.stderr
    assert "AUDIT True True" in rerun.stdout, rerun.stdout
    ctx = AppContext(restored)
    try:
        assert ctx.users.get("u1", guild_id="g1") is not None
    finally:
        ctx.database.client.drop_database(restored.database.name)
        ctx.close()


def test_a_killed_backup_leaves_no_archive(
    source: AppContext, backend: Backend, tmp_path: Path
) -> None:
    out = tmp_path / "killed.tar"
    code = (
        "import os, signal\nfrom pathlib import Path\nfrom core.context import open_context\n"
        "from core.backup import create_backup\n"
        "def step(phase):\n    if phase == 'files':\n        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"create_backup(open_context(), Path({str(out)!r}), on_phase=step)\n"
    )
    killed = run_python(code, backend.env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()


_TRANSFERS = """
import sys, time
from core.context import open_context
ctx = open_context()
me, other = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + float(sys.argv[3])
n = 0
while time.monotonic() < deadline:
    ctx.bank.transfer(me, other, 1, guild_id="g1", idempotency_key=f"{me}-{n}")
    n += 1
print(n)
"""


@pytest.mark.slow
def test_a_backup_taken_while_four_processes_transfer_restores_to_balanced_books(
    source: AppContext, backend: Backend, tmp_path: Path
) -> None:
    if backend.name == "mongo":
        pytest.skip("the MongoDB stand-in serves one request at a time; SQLite carries the load")
    users = ["w1", "w2", "w3", "w4"]
    for user in users:
        source.bank.add(user, 100_000, guild_id="g1")
    procs = [
        spawn_python(
            f"import sys; sys.argv = ['x', {u!r}, {users[(i + 1) % 4]!r}, '6']\n" + _TRANSFERS,
            backend.env,
        )
        for i, u in enumerate(users)
    ]
    time.sleep(2.0)
    archive = tmp_path / "live.tar"
    create_backup(source, archive)
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    restored_settings = target(backend, tmp_path)
    result = restore_backup(restored_settings, archive)
    assert result.audit_ok and result.counts_match, result
    ctx = AppContext(restored_settings)
    try:
        records = exported(ctx)["bank"]
        transfers = {r["transfer_id"]: r for r in records if r["record"] == "bank_transfers"}
        sides: dict[str, int] = {}
        for r in records:
            if r["record"] == "bank_ledger":
                sides[r["transfer_id"]] = sides.get(r["transfer_id"], 0) + 1
        moved = [t for t in transfers.values() if t["kind"] == "transfer"]
        assert moved, "the backup should catch transfers in flight"
        for t in moved:
            assert t["status"] == "done" and sides.get(t["transfer_id"]) == 2, t
        assert set(sides) <= set(transfers)
        total = sum(ctx.bank.balance(u, guild_id="g1").balance for u in users)
        assert total == 400_000
    finally:
        ctx.close()


def test_the_archive_holds_the_settings_with_secrets_masked(
    backend: Backend, tmp_path: Path
) -> None:
    secret = "sk-bench-secret-value-0123456789"
    settings = _settings({**backend.env, "ABBY_LLM__API_KEY": secret})
    with keyed_context(settings, START) as (ctx, _clock):
        populate(ctx)
        archive = tmp_path / "b.tar"
        create_backup(ctx, archive)
    with tarfile.open(archive) as tar:
        config = json.loads(tar.extractfile("config.json").read())
        everything = b"".join(tar.extractfile(m).read() for m in tar if m.isfile())
    assert config["llm"]["api_key"] == "**********"
    assert secret.encode() not in everything
    if backend.name == "mongo":
        assert b"mongodb://" not in json.dumps(config).encode()


def test_backup_and_restore_report_progress_with_a_whole_number_total(
    source: AppContext, backend: Backend, tmp_path: Path, mongo_uri: str
) -> None:
    """The one progress protocol (core.progress): every call is (done, total), both whole
    numbers, done within total, through every phase of a backup and of a restore into the
    other backend (the import path, whose total is the manifest's record count)."""
    calls: list[tuple[str, object, object]] = []
    phase = ["start"]

    def on_phase(name: str) -> None:
        phase[0] = name

    def progress(done: int, total: int) -> None:
        calls.append((phase[0], done, total))

    archive = tmp_path / "b.tar"
    create_backup(source, archive, progress=progress, on_phase=on_phase)
    other = {"ABBY_DATA_DIR": str(tmp_path / "other")}
    if backend.name == "sqlite":
        other |= {"ABBY_DATABASE__URI": mongo_uri, "ABBY_DATABASE__NAME": f"t{uuid.uuid4().hex}"}
    settings = _settings(other)
    try:
        restore_backup(settings, archive, progress=progress, on_phase=on_phase)
    finally:
        if settings.database.uri is not None:
            restored = AppContext(settings)
            restored.database.client.drop_database(settings.database.name)  # type: ignore[union-attr]
            restored.close()
    phases = {name for name, _, _ in calls}
    assert {"documents", "files", "verify", "extract", "import"} <= phases, phases
    for name, done, total in calls:
        assert type(done) is int and type(total) is int, (name, done, total)
        assert 0 <= done <= total, (name, done, total)
    records = [(d, t) for name, d, t in calls if name == "import"]
    assert records[-1][0] == records[-1][1] == sum(json.loads(
        tarfile.open(archive).extractfile("manifest.json").read()  # type: ignore[union-attr]
    )["counts"].values())  # fmt: skip
