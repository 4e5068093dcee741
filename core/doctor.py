"""Health checks for `abby doctor`: configuration, data dir, database, optional services.

Each check returns a Check; a check never raises. Optional services report `ok` (configured
and reachable), `warn` (not configured, or configured but unreachable) — only the required
parts (config, data dir, database) can `fail`. Files that group or others can read are a
`warn` naming them; `fix=True` (`abby doctor --fix`) tightens them to 0600 / 0700. URLs are
shown with their credentials masked.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.config import Settings
from core.errors import AbbyError
from core.permissions import LoosePath, loose_paths, tighten
from core.urls import mask_url

Status = Literal["ok", "warn", "fail"]
HTTP_TIMEOUT_SECONDS = 3.0
SHOWN_PATHS = 8  # loose files named in the row; the rest are counted


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def check_config(settings: Settings) -> Check:
    """Which config file is in use and the rule that chose it (it loaded, so it is valid)."""
    if settings.config_file is None:
        return Check("config", "ok", f"valid: defaults and environment, {settings.config_source}")
    return Check("config", "ok", f"valid: {settings.config_file} ({settings.config_source})")


def check_data_dir(settings: Settings) -> Check:
    """Which data dir is in use and why; writable? Never creates it (doctor only looks)."""
    path = settings.data_dir
    why = settings.data_dir_source
    if not path.exists():
        if settings.database.uri is not None:  # documents on the server; files come later
            return Check("data_dir", "warn", f"{path} ({why}) does not exist yet")
        return Check(
            "data_dir",
            "fail",
            f"{path} ({why}) does not exist: run `abby init`, or point "
            "ABBY_DATA_DIR or data_dir in the config at your data",
        )
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True):
            pass
    except OSError as exc:
        return Check("data_dir", "fail", f"{path} ({why}) is not writable: {exc.strerror}")
    return Check("data_dir", "ok", f"{path} ({why}) is writable")


def check_database(context: object) -> Check:
    from core.context import AppContext

    assert isinstance(context, AppContext)
    try:
        db = context.database
        db.ping()
        context.init_schema()
    except AbbyError as exc:
        return Check("database", "fail", str(exc))
    where = mask_url(db.location)
    return Check("database", "ok", f"{db.backend} at {where}: write round trip ok")


def check_keys(settings: Settings) -> Check:
    """The encryption key ring (never its material): warn when absent, fail when unusable."""
    from core.errors import MissingKey
    from core.security import KeySource

    source = KeySource(settings.security, settings.key_file)
    try:
        ring = source.ring()
    except MissingKey:
        return Check(
            "keys", "warn", "no encryption key (sessions need one: abby keys generate --write)"
        )
    except AbbyError as exc:
        return Check("keys", "fail", str(exc))
    return Check(
        "keys", "ok", f"{len(ring.ids)} key(s) from {source.description}, primary {ring.primary_id}"
    )


def _probe_http(url: str) -> str | None:
    """None when something answers HTTP at url, else a one-line reason."""
    import httpx

    try:
        httpx.get(url, timeout=HTTP_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return f"unreachable ({type(exc).__name__})"
    return None


def _service(name: str, configured: bool, url: str | None, hint: str) -> Check:
    if not configured:
        return Check(name, "warn", f"unconfigured ({hint})")
    if url is None:
        return Check(name, "ok", "configured")
    problem = _probe_http(url)
    shown = mask_url(url)
    if problem:
        return Check(name, "warn", f"configured, {problem} at {shown}")
    return Check(name, "ok", f"configured, reachable at {shown}")


def check_services(settings: Settings) -> list[Check]:
    rag = settings.rag
    llm = settings.llm
    images = settings.images
    emb = settings.embeddings
    return [
        _service(
            "chroma_server",
            rag.chroma_url is not None,
            f"{rag.chroma_url.rstrip('/')}/api/v2/heartbeat" if rag.chroma_url else None,
            "using embedded Chroma in the data dir",
        ),
        _service(
            "embeddings",
            emb.provider != "local",
            emb.base_url if emb.provider != "local" else None,
            "using the local all-MiniLM-L6-v2 model",
        ),
        _service(
            "llm",
            llm.provider != "none",
            llm.base_url,
            "set llm.provider and llm.base_url for chat",
        ),
        _service(
            "stability",
            images.api_key is not None,
            None,
            "set ABBY_IMAGES__API_KEY for image generation",
        ),
        _service(
            "discord",
            settings.discord.token is not None,
            None,
            "set ABBY_DISCORD__TOKEN to run the bot",
        ),
    ]


def private_roots(settings: Settings) -> list[Path]:
    """Everything Abby keeps: the data dir, and its stores configured to live elsewhere."""
    roots = [settings.data_dir, settings.log_dir, settings.storage_root, settings.key_file]
    if settings.telemetry.events_file is None:
        roots.append(settings.events_path.parent)
    else:  # a file in a directory Abby does not own: the file and its rotations only
        events = settings.events_path
        roots.extend(sorted(events.parent.glob(events.name + "*")))
    return roots


def check_file_modes(settings: Settings, *, fix: bool = False) -> Check:
    """Files and folders group or others can use: warn naming them, or tighten with `fix`."""
    loose = sorted(loose_paths(private_roots(settings)), key=lambda item: item.path)
    if not loose:
        return Check("file_modes", "ok", "every file is readable by its owner only")
    if not fix:
        return Check(
            "file_modes",
            "warn",
            f"{_listed(settings, loose)} readable by group or others"
            " (abby doctor --fix makes them 0600 / 0700)",
        )
    done, failed = tighten(loose)
    if failed:
        reasons = "; ".join(f"{_shown(settings, item)}: {why}" for item, why in failed[:3])
        return Check("file_modes", "warn", f"tightened {len(done)}, could not fix {reasons}")
    return Check("file_modes", "ok", f"tightened {_listed(settings, done)} to owner-only")


def _shown(settings: Settings, item: LoosePath) -> str:
    try:
        name = item.path.relative_to(settings.data_dir).as_posix() or "."
    except ValueError:
        name = str(item.path)
    if name == ".":
        name = str(item.path)
    return f"{name} ({item.mode:04o})"


def _listed(settings: Settings, items: list[LoosePath]) -> str:
    shown = ", ".join(_shown(settings, item) for item in items[:SHOWN_PATHS])
    more = f" and {len(items) - SHOWN_PATHS} more" if len(items) > SHOWN_PATHS else ""
    return f"{len(items)} path(s): {shown}{more}"


def run_checks(
    settings: Settings, open_context: Callable[[], object], *, fix: bool = False
) -> list[Check]:
    checks = [check_config(settings), check_data_dir(settings), check_keys(settings)]
    try:
        context = open_context()
    except AbbyError as exc:
        checks.append(Check("database", "fail", str(exc)))
    else:
        checks.append(check_database(context))
    checks.extend(check_services(settings))
    # Last: the checks above may have created the data dir's files.
    checks.append(check_file_modes(settings, fix=fix))
    return checks
