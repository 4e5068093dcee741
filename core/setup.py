"""First-run set-up (`abby init`): a config file, the data dir, a key, the schema, the model.

In the manner of `redbot-setup`: one command leaves a machine ready for the CLI, cron and the
bot, and prints the cron lines and systemd unit that use it with absolute paths, so that
whatever runs them (with an empty environment, from another directory) finds the same config
and therefore the same data. The config is written last, through a temp file renamed into
place: a set-up that fails half-way leaves no config pointing at it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import user_config_file
from core.errors import InvalidInput, Refused
from core.permissions import PRIVATE_DIR, PRIVATE_FILE

MONGO_CHECK_TIMEOUT_MS = 3_000  # a set-up should not sit 30 s on a typo in a host name
DEFAULT_DOCS = Path("/srv/community-docs")  # the folder the cron line indexes unless told
STEPS = ("checking", "encryption key", "schema", "local model", "config file")


@dataclass(frozen=True)
class SetupRequest:
    """What `abby init` was asked for; paths are made absolute by `plan_setup`."""

    config_path: Path
    data_dir: Path
    mongodb_uri: str | None = None  # None = the embedded SQLite store
    database_name: str = "abby"
    discord_token: str | None = None
    docs_dir: Path = DEFAULT_DOCS
    # Where the cron lines append their output. Outside the data dir on purpose: when the
    # set-up is missing, the line's "no Abby data" error must still land somewhere.
    cron_log: Path = Path("abby-cron.log")
    build_model: bool = True
    force: bool = False


@dataclass(frozen=True)
class SetupResult:
    config_file: Path
    data_dir: Path
    backend: str
    key_file: Path | None  # None: the keys come from ABBY_ENCRYPTION_KEYS
    key_created: bool
    schema: dict[str, Any]
    model: str | None  # the embedding model made ready, None when not local / skipped
    abby: str
    cron: list[str] = field(default_factory=list)
    systemd_unit: str = ""


def default_config_path(explicit: Path | None, environ: Mapping[str, str]) -> Path:
    """Where `abby init` writes: `--config`, else ABBY_CONFIG, else the user config dir.

    Not ./config.yaml: a set-up made in whatever directory a shell happened to be in is the
    trap this command exists to avoid.
    """
    if explicit:
        return Path(explicit).expanduser()
    if environ.get("ABBY_CONFIG"):
        return Path(environ["ABBY_CONFIG"]).expanduser()
    return user_config_file()


def plan_setup(request: SetupRequest) -> SetupRequest:
    """Check the request before anything is written; return it with absolute paths.

    Raises InvalidInput for a bad URI or folder and Refused (exit 4) when a set-up exists
    there already and `force` is not set.
    """
    config_path = Path(os.path.abspath(request.config_path.expanduser()))
    data_dir = Path(os.path.abspath(request.data_dir.expanduser()))
    docs_dir = Path(os.path.abspath(request.docs_dir.expanduser()))
    cron_log = Path(os.path.abspath(request.cron_log.expanduser()))
    uri = (request.mongodb_uri or "").strip() or None
    if uri is not None and not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise InvalidInput("the MongoDB URI must start with mongodb:// or mongodb+srv://")
    if not request.database_name or len(request.database_name) > 63:
        raise InvalidInput("the database name must be 1-63 characters")
    if config_path.exists() and not config_path.is_file():
        raise InvalidInput(f"{config_path} exists and is not a file")
    if data_dir.exists() and not data_dir.is_dir():
        raise InvalidInput(f"the data dir {data_dir} exists and is not a directory")
    if config_path in (data_dir, data_dir / "abby.db", data_dir / "keys"):
        raise InvalidInput(f"the config file {config_path} would overwrite Abby's own data")
    for what, path in (("config file", config_path), ("data dir", data_dir),
                       ("docs folder", docs_dir), ("cron log", cron_log)):  # fmt: skip
        _check_printable(what, str(path))
    found = existing_setup(config_path, data_dir)
    if found and not request.force:
        raise Refused(
            f"an Abby set-up exists already ({'; '.join(found)}); nothing was changed. "
            "Pass --force to write a new config (the data and the keys are kept)"
        )
    return SetupRequest(
        config_path=config_path,
        data_dir=data_dir,
        mongodb_uri=uri,
        database_name=request.database_name,
        discord_token=(request.discord_token or "").strip() or None,
        docs_dir=docs_dir,
        cron_log=cron_log,
        build_model=request.build_model,
        force=request.force,
    )


def _check_printable(what: str, path: str) -> None:
    """Refuse a path the printed cron line or unit would mangle: cron turns `%` into a
    newline, systemd expands `%` specifiers, and a control character ends either line."""
    if "%" in path or any(ord(char) < 32 or ord(char) == 127 for char in path):
        raise InvalidInput(f"the {what} path {path!r} holds a % or a control character")


def existing_setup(config_path: Path, data_dir: Path) -> list[str]:
    """What an earlier set-up left where this one would write (empty: nothing)."""
    found = []
    if config_path.is_file():
        found.append(f"config file {config_path}")
    for name in ("abby.db", "abby.db.schema", "keys"):
        if (data_dir / name).exists():
            found.append(f"{data_dir / name}")
    return found


def check_mongodb(uri: str, name: str) -> None:
    """Reach the server within a few seconds and prove a write (ServiceUnavailable, exit 75,
    or ConfigError, exit 78, with the URI's credentials masked)."""
    from core.db.mongo import MongoDatabase

    database = MongoDatabase(uri, name=name, server_selection_timeout_ms=MONGO_CHECK_TIMEOUT_MS)
    try:
        database.ping()
    finally:
        database.close()


def render_config(request: SetupRequest) -> str:
    """The YAML `abby init` writes: only what differs from the defaults, paths absolute."""
    import yaml

    document: dict[str, Any] = {"data_dir": str(request.data_dir)}
    if request.mongodb_uri:
        document["database"] = {"uri": request.mongodb_uri, "name": request.database_name}
    if request.discord_token:
        document["discord"] = {"token": request.discord_token}
    header = (
        "# Written by `abby init`. Every other key and its default: config.example.yaml.\n"
        "# Owner-only (0600): Abby refuses a config holding a secret that others can read.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def cron_lines(abby: str, config_file: Path, docs_dir: Path, log: Path) -> list[str]:
    """The crontab lines for this machine: absolute paths, so cron's empty environment and
    working directory change nothing; each appends its JSON result (or error) to `log`."""
    # Quoted for /bin/sh, which cron runs the command with (a path may hold a space).
    run = f"{abby} --config {shlex.quote(str(config_file))}"
    out = f">> {shlex.quote(str(log))} 2>&1"
    return [
        f"0 4 * * *    {run} storage cleanup --yes --json {out}",
        f"30 4 * * *   {run} session purge --yes --json {out}",
        f"0 5 * * *    {run} bank audit --json {out}",
        f"*/15 * * * * {run} rag ingest {shlex.quote(str(docs_dir))} --prune --json {out}",
    ]


def systemd_unit(abby: str, config_file: Path) -> str:
    """A systemd user unit running the bot on this config (~/.config/systemd/user/abby.service)."""
    # systemd splits ExecStart on spaces but honours double quotes (paths hold no % or ").
    config = f'"{config_file}"' if " " in str(config_file) else str(config_file)
    return "\n".join(
        [
            "[Unit]",
            "Description=Abby Discord bot",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            f"ExecStart={abby} --config {config} bot run",
            "Restart=on-failure",
            "RestartSec=5",
            "UMask=0077",
            "NoNewPrivileges=true",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def run_setup(
    request: SetupRequest,
    *,
    abby: str,
    environ: Mapping[str, str],
    on_step: Callable[[int, str], None] | None = None,
) -> SetupResult:
    """Set Abby up as `request` says (see `plan_setup`, which this calls first).

    `on_step(index, name)` is told as each of STEPS begins (for a progress display).

    Raises what plan_setup raises, ServiceUnavailable or ConfigError for an unreachable or
    refusing MongoDB (before anything is written), and the stores' own errors.
    """
    from core.config import load_settings
    from core.context import AppContext
    from core.paths import atomic_write

    step = on_step or (lambda index, name: None)
    step(0, STEPS[0])
    _check_printable("abby executable", abby)
    request = plan_setup(request)
    if request.mongodb_uri:
        check_mongodb(request.mongodb_uri, request.database_name)
    request.config_path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    request.data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    # Written beside its final place and loaded from there, renamed over the target last.
    staging = request.config_path.with_name(f".{request.config_path.name}.init")
    atomic_write(staging, render_config(request).encode("utf-8"), mode=PRIVATE_FILE)
    context: AppContext | None = None
    try:
        settings = load_settings(staging, environ=environ)  # its data_dir wins over the env
        context = AppContext(settings)
        context.ensure_data_dir()  # not writable: one line, exit 78, before any key is made
        key_file: Path | None = settings.key_file
        key_created = False
        step(1, STEPS[1])
        if settings.security.encryption_keys is not None:
            key_file = None  # ABBY_ENCRYPTION_KEYS decides; a key file would be ignored
        elif not settings.key_file.exists():
            context.keys.generate(write=True, actor="abby init")
            key_created = True
        step(2, STEPS[2])
        context.init_schema()
        schema = context.status()["schema"]
        model = None
        step(3, STEPS[3])
        if request.build_model and settings.embeddings.provider == "local":
            # Builds the fused graph into <data dir>/models once (core.rag._fused), and proves
            # the model runs here, offline.
            context.rag.embedder.embed(["Abby is ready."])
            model = settings.embeddings.model
        backend = settings.database.backend
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    finally:
        if context is not None:
            context.close()
    step(4, STEPS[4])
    if not request.cron_log.exists():  # created owner-only; the shell's >> keeps the mode
        request.cron_log.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(request.cron_log, b"", mode=PRIVATE_FILE)
    os.replace(staging, request.config_path)
    return SetupResult(
        config_file=request.config_path,
        data_dir=request.data_dir,
        backend=backend,
        key_file=key_file,
        key_created=key_created,
        schema=schema,
        model=model,
        abby=abby,
        cron=cron_lines(abby, request.config_path, request.docs_dir, request.cron_log),
        systemd_unit=systemd_unit(abby, request.config_path),
    )
