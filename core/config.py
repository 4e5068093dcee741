"""Settings: one immutable, validated model built once at the edge and passed down.

Sources, later wins: built-in defaults < YAML file (``--config``, then ``ABBY_CONFIG``, then
``./config.yaml``, then the user config dir) < ``ABBY_*`` environment variables (nested with
``__``, e.g. ``ABBY_DATABASE__URI``) < explicit overrides (command-line flags). Unknown keys are
errors. Secrets are ``SecretStr`` so that neither ``repr`` nor a dump shows them.

The data dir is the one exception to "later wins": the config's ``data_dir``, else
``ABBY_DATA_DIR``, else the user data dir. A shell, cron and systemd that read the same config
file then use the same data, whatever their environment and working directory; nothing falls
back to the current directory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import ConfigError

DEFAULT_CONFIG_NAME = "config.yaml"
APP_NAME = "abby"  # the folder name under the user config and data dirs
ENV_PREFIX = "ABBY_"
# ABBY_* variables that are not settings keys.
RESERVED_ENV = frozenset(
    {"ABBY_CONFIG", "ABBY_DEBUG", "ABBY_TEST_MONGODB_URI", "ABBY_DATA_DIR", "ABBY_ENCRYPTION_KEYS"}
)
MIB = 1024 * 1024
# Upper bounds for every number a setting takes: far past any real use, but short of the
# values that overflow a datetime or a timedelta (`retention_days: 99999999999999`).
GIB = 1024 * MIB
DAY = 86_400
YEAR = 365 * DAY
MAX_DAYS = 36_500
MAX_SAFE_INTEGER = 2**53 - 1


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class DatabaseSettings(Section):
    # None = embedded SQLite in the data dir; mongodb:// or mongodb+srv:// = MongoDB.
    uri: SecretStr | None = None
    name: str = "abby"
    sqlite_file: str = "abby.db"
    busy_timeout_ms: int = Field(10_000, ge=0, le=600_000)
    server_selection_timeout_ms: int = Field(4_000, ge=100, le=600_000)

    @field_validator("uri")
    @classmethod
    def _mongo_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError(
                "must start with mongodb:// or mongodb+srv:// (or be empty for SQLite)"
            )
        return value

    @property
    def backend(self) -> Literal["sqlite", "mongo"]:
        return "sqlite" if self.uri is None else "mongo"


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    dir: Path | None = None  # None = <data dir>/logs
    max_bytes: int = Field(10 * MIB, ge=4096, le=100 * GIB)
    backup_count: int = Field(5, ge=0, le=1_000)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class TelemetrySettings(Section):
    enabled: bool = True
    events_file: Path | None = None  # None = <data dir>/telemetry/events.jsonl
    max_bytes: int = Field(10 * MIB, ge=4096, le=100 * GIB)
    backup_count: int = Field(5, ge=0, le=1_000)
    heartbeat_seconds: int = Field(60, ge=1, le=DAY)


class DiscordSettings(Section):
    token: SecretStr | None = None
    command_prefix: str = "!"
    # Guilds to sync slash commands to at start-up (instant); empty = global sync.
    sync_guilds: tuple[int, ...] = ()
    owner_ids: tuple[int, ...] = ()
    # Per guild (guild id -> role ids): members with one of these roles run the admin or
    # moderator commands (Manage Server always counts as admin). `abby bot settings --guild G`
    # stores an override of a guild's list in the database.
    admin_role_ids: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    moderator_role_ids: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # The whole download of one /kb ingest attachment (its size cap is rag.max_file_bytes).
    attachment_timeout_seconds: float = Field(30.0, gt=0, le=600)

    @field_validator("admin_role_ids", "moderator_role_ids", mode="before")
    @classmethod
    def _role_map(cls, value: object) -> object:
        # YAML reads snowflakes as integers; ids are compared as strings everywhere.
        if not isinstance(value, Mapping):
            return value
        roles: dict[str, tuple[str, ...]] = {}
        for guild, ids in value.items():
            listed = [ids] if isinstance(ids, str | int) else ids
            if isinstance(guild, bool) or not str(guild).isdigit() or len(str(guild)) > 20:
                raise ValueError(f"guild id {str(guild)[:40]!r} is not a Discord id (digits)")
            if not isinstance(listed, list | tuple):
                raise ValueError(f"guild {guild}: give a list of role ids")
            for role in listed:
                if isinstance(role, bool) or not str(role).isdigit() or len(str(role)) > 20:
                    shown = str(role)[:40]
                    raise ValueError(f"guild {guild}: role id {shown!r} is not a Discord id")
            roles[str(guild)] = tuple(str(role) for role in listed)
        return roles

    shard_count: int | None = Field(None, ge=1, le=100_000)
    # The shards this process runs (needs shard_count); empty = all of them.
    shard_ids: tuple[int, ...] = ()
    # REST root and gateway: Discord's by default; a rate-limit proxy (nirn-proxy) or a
    # local stand-in in tests otherwise.
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    # How long SIGTERM waits for handlers already running before closing anyway.
    shutdown_grace_seconds: float = Field(5.0, ge=0, le=60)

    @field_validator("api_base_url", "gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        schemes = ("http://", "https://", "ws://", "wss://")
        if not value.startswith(schemes) or len(value) > 2048:
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value.rstrip("/") if value.startswith("http") else value

    @model_validator(mode="after")
    def _shards(self) -> DiscordSettings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("shard_ids needs shard_count")
        if any(not 0 <= s < (self.shard_count or 0) for s in self.shard_ids):
            raise ValueError(f"shard_ids must be between 0 and shard_count-1 ({self.shard_count})")
        return self


class XpSettings(Section):
    # Defaults for every guild; `abby xp settings --guild G KEY VALUE` overrides one guild.
    min_grant: int = Field(15, ge=0, le=1_000_000)
    max_grant: int = Field(25, ge=0, le=1_000_000)
    cooldown_seconds: int = Field(60, ge=0, le=YEAR)
    curve: Literal["mee6", "power"] = "mee6"
    power_base: float = Field(100.0, gt=0, le=1e12)
    power_exponent: float = Field(2.0, gt=0, le=10)
    announce_level_ups: bool = True
    # Level-up announcement; only {member} and {level} (core.economy.rewards).
    announce_template: str = Field(
        "🎉 {member} reached level {level}!", min_length=1, max_length=300
    )
    # XP each eligible member in voice earns per sweep (not muted, deafened, alone or AFK).
    voice_xp_per_minute: int = Field(10, ge=0, le=1_000_000)
    # Seconds between voice XP sweeps: a minute in production (tests shorten it).
    voice_sweep_seconds: float = Field(60.0, ge=0.2, le=DAY)
    # How often the bot applies pending reward roles (after a grant from the CLI, an import).
    reward_poll_seconds: float = Field(2.0, ge=0.2, le=DAY)
    # How long a process trusts the per-guild settings it read (the cooldown itself is
    # always checked in the database).
    settings_cache_seconds: float = Field(10.0, ge=0, le=DAY)

    @model_validator(mode="after")
    def _grant_range(self) -> XpSettings:
        if self.min_grant > self.max_grant:
            raise ValueError(f"min_grant {self.min_grant} is above max_grant {self.max_grant}")
        return self


class BankSettings(Section):
    currency_name: str = "coins"
    daily_amount: int = Field(100, ge=0, le=MAX_SAFE_INTEGER)
    # MongoDB only: a movement left pending this long is finished or undone by recovery
    # (its own process is presumed dead); younger ones may still be in flight.
    recover_grace_seconds: float = Field(30.0, ge=0, le=YEAR)


class EmbeddingSettings(Section):
    provider: Literal["local", "openai"] = "local"
    model: str = "all-MiniLM-L6-v2-int8row"  # int8 per row; "all-MiniLM-L6-v2" for fp32
    base_url: str | None = None  # OpenAI-compatible /v1 root for provider=openai
    api_key: SecretStr | None = None
    batch_size: int = Field(32, ge=1, le=2048)
    timeout_seconds: float = Field(30.0, gt=0, le=DAY)


class RagSettings(Section):
    chroma_url: str | None = None  # None = embedded PersistentClient in <data dir>/chroma
    collection: str = "abby_docs"
    chunk_tokens: int = Field(200, ge=32, le=256)
    chunk_overlap_tokens: int = Field(32, ge=0, le=128)
    max_file_bytes: int = Field(10 * MIB, ge=1, le=100 * GIB)
    # Each PDF is read in a child process under these budgets; over one, it is skipped.
    max_pdf_pages: int = Field(1000, ge=1, le=1_000_000)
    pdf_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    max_pdf_decompressed_bytes: int = Field(64 * MIB, ge=MIB, le=100 * GIB)
    top_k: int = Field(5, ge=1, le=100)
    min_score: float = Field(0.0, ge=-1.0, le=1.0)
    max_query_chars: int = Field(2_000, ge=1, le=1_000_000)
    # Ranking by source: at most this many passages of one document in a query's top k.
    per_document: int = Field(1, ge=1, le=100)
    # Fuse a word index (FTS5 / MongoDB text index) with the vectors by reciprocal rank.
    hybrid: bool = False
    # Fuse it anyway for a query naming something exactly (storage.root, ABBY_DATA_DIR, --flag).
    exact_names: bool = True


class LlmSettings(Section):
    provider: Literal["openai", "ollama", "none"] = "none"
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=1, le=10_000_000)
    timeout_seconds: float = Field(60.0, gt=0, le=DAY)
    system_prompt: str = "You are Abby, a friendly assistant for this Discord community."
    max_history: int = Field(20, ge=0, le=100_000)


class SecuritySettings(Section):
    # Comma-separated "id:key" or bare Fernet keys, newest (primary) first; or a 0600 key file.
    encryption_keys: SecretStr | None = None
    key_file: Path | None = None  # None = <data dir>/keys
    bcrypt_rounds: int = Field(12, ge=4, le=31)


class SessionSettings(Section):
    # an active session with no message this long expires
    idle_minutes: int = Field(30, ge=1, le=YEAR // 60)
    # `abby session purge` default; 0 = keep forever
    retention_days: int = Field(30, ge=0, le=MAX_DAYS)


class PrivacySettings(Section):
    """A member's own data in Discord (`/privacy`)."""

    # a member's /privacy export at most once per this many seconds (it decrypts every
    # conversation); 0 = no limit; the operator's `abby user export` is never limited
    export_cooldown_seconds: int = Field(3600, ge=0, le=YEAR)


class StorageSettings(Section):
    root: Path | None = None  # None = <data dir>/storage
    temp_retention_days: int = Field(7, ge=0, le=MAX_DAYS)
    kept_retention_days: int = Field(0, ge=0, le=MAX_DAYS)  # 0 = forever
    max_image_bytes: int = Field(10 * MIB, ge=1, le=100 * GIB)
    # Cleanup treats an unrecorded file as an orphan only once it is this old, so a save in
    # flight (file renamed, record not yet inserted) is never taken.
    orphan_grace_seconds: int = Field(600, ge=0, le=YEAR)


ROLE_ID_HELP = (
    "quota role limits are keyed by role id (digits), not name: in Discord turn on Developer "
    "Mode (User Settings > Advanced), then Server Settings > Roles, right-click the role, "
    "Copy Role ID"
)


def role_id_limits(value: object) -> object:
    """Role limits keyed by Discord role id; YAML reads a snowflake as an int. A role name
    (what quotas took before) is refused with how to find the id."""
    if not isinstance(value, Mapping):
        return value
    limits: dict[str, object] = {}
    for role, limit in value.items():
        text = str(role)
        if isinstance(role, bool) or not text.isdigit() or len(text) > 20:
            raise ValueError(f"{text[:40]!r} is not a role id; {ROLE_ID_HELP}")
        limits[text] = limit
    return limits


class GuildQuotaSettings(Section):
    """One guild's overrides of the quota defaults (unset = the global value)."""

    user_mb: float | None = Field(None, gt=0, le=1e12)
    daily_generations: int | None = Field(None, ge=0, le=MAX_SAFE_INTEGER)
    role_limits: dict[str, int] = Field(default_factory=dict)  # role id -> limit

    @field_validator("role_limits", mode="before")
    @classmethod
    def _role_ids(cls, value: object) -> object:
        return role_id_limits(value)


class QuotaSettings(Section):
    global_mb: float = Field(5_000, gt=0, le=1e12)
    user_mb: float = Field(500, gt=0, le=1e12)
    daily_generations: int = Field(5, ge=0, le=MAX_SAFE_INTEGER)
    # Raise (never lower) the daily limit: role id -> limit, level floor -> limit.
    role_limits: dict[str, int] = Field(default_factory=dict)
    level_bands: dict[int, int] = Field(default_factory=lambda: {1: 10, 5: 25, 10: 50})
    owner_limit: int = Field(1_000, ge=0, le=MAX_SAFE_INTEGER)
    owner_ids: tuple[str, ...] = ()
    # Per-guild overrides by guild id: {"123": {"daily_generations": 8, "role_limits": {...}}}.
    guilds: dict[str, GuildQuotaSettings] = Field(default_factory=dict)

    @field_validator("role_limits", mode="before")
    @classmethod
    def _role_ids(cls, value: object) -> object:
        return role_id_limits(value)


class ImageSettings(Section):
    api_key: SecretStr | None = None
    base_url: str = "https://api.stability.ai"
    model: Literal["core", "ultra", "sd3"] = "core"
    output_format: Literal["png", "jpeg", "webp"] = "png"
    timeout_seconds: float = Field(60.0, gt=0, le=DAY)
    max_retries: int = Field(3, ge=0, le=100)
    rate_limit_requests: int = Field(150, ge=1, le=MAX_SAFE_INTEGER)
    rate_limit_window_seconds: float = Field(10.0, gt=0, le=DAY)
    poll_deadline_seconds: float = Field(300.0, gt=0, le=DAY)
    # Stability asks for >= 10 s between polls
    poll_interval_seconds: float = Field(10.0, gt=0, le=DAY)
    # Stability blocks a client this long after 429
    lockout_seconds: float = Field(60.0, ge=0, le=DAY)
    retry_backoff_seconds: float = Field(1.0, ge=0, le=DAY)  # first 5xx retry; doubles each time


class PersonaSettings(Section):
    name: str = "abby"


class ChatSettings(Section):
    """The assistant in Discord and `abby chat`."""

    rate_limit_per_minute: int = Field(6, ge=0, le=10_000)  # questions per member; 0 = no limit
    use_docs: bool = True  # ground mentions and summons in the guild's documents
    top_k: int = Field(4, ge=1, le=20)  # document chunks given to the model as context


class Settings(Section):
    """Every setting Abby reads. Build with :func:`load_settings`."""

    data_dir: Path = Path("data")
    config_file: Path | None = None  # the YAML file these settings came from, if any
    # Which rule chose the config file and the data dir, for doctor, `config show` and the
    # "no Abby data" error (set by load_settings; not a setting anyone writes).
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    database: DatabaseSettings = DatabaseSettings()
    logging: LoggingSettings = LoggingSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    discord: DiscordSettings = DiscordSettings()
    xp: XpSettings = XpSettings()
    bank: BankSettings = BankSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    rag: RagSettings = RagSettings()
    llm: LlmSettings = LlmSettings()
    security: SecuritySettings = SecuritySettings()
    sessions: SessionSettings = SessionSettings()
    storage: StorageSettings = StorageSettings()
    quota: QuotaSettings = QuotaSettings()
    images: ImageSettings = ImageSettings()
    persona: PersonaSettings = PersonaSettings()
    chat: ChatSettings = ChatSettings()
    privacy: PrivacySettings = PrivacySettings()

    @property
    def config_source(self) -> str:
        """How the config file was found, e.g. '--config' or 'the user config dir'."""
        return self._sources.get("config", "no config file")

    @property
    def data_dir_source(self) -> str:
        """How the data dir was chosen, e.g. 'ABBY_DATA_DIR' or 'the user data dir'."""
        return self._sources.get("data_dir", "built-in default")

    # Derived locations: every embedded store lives under data_dir.
    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / self.database.sqlite_file

    @property
    def log_dir(self) -> Path:
        return self.logging.dir or self.data_dir / "logs"

    @property
    def events_path(self) -> Path:
        return self.telemetry.events_file or self.data_dir / "telemetry" / "events.jsonl"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def storage_root(self) -> Path:
        return self.storage.root or self.data_dir / "storage"

    @property
    def key_file(self) -> Path:
        return self.security.key_file or self.data_dir / "keys"

    def secret_values(self) -> list[str]:
        """Every configured secret, for log redaction. Never log the result."""
        found: list[str] = []

        def walk(model: BaseModel) -> None:
            for name in type(model).model_fields:
                value = getattr(model, name)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    found.append(value.get_secret_value())
                elif isinstance(value, BaseModel):
                    walk(value)

        walk(self)
        return found


def user_config_file() -> Path:
    """`config.yaml` in the user config dir (platformdirs: ~/.config/abby on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / DEFAULT_CONFIG_NAME


def user_data_dir() -> Path:
    """The user data dir (platformdirs: ~/.local/share/abby on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def locate_config_file(
    explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> tuple[Path | None, str]:
    """The YAML file to read and the rule that chose it.

    `--config`, then ABBY_CONFIG (both must exist), then ./config.yaml, then the user config
    dir. Raises ConfigError for a named file that does not exist.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path, "--config"
    if environ.get("ABBY_CONFIG"):
        path = Path(environ["ABBY_CONFIG"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"ABBY_CONFIG points to {path}, which does not exist")
        return path, "ABBY_CONFIG"
    default = Path(DEFAULT_CONFIG_NAME)
    if default.is_file():
        return default, "./config.yaml in the current directory"
    user = user_config_file()
    if user.is_file():
        return user, "the user config dir"
    return None, f"no config file (looked for ./{DEFAULT_CONFIG_NAME} and {user})"


def find_config_file(
    explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> Path | None:
    """Return the YAML file to read (see :func:`locate_config_file`), or None."""
    return locate_config_file(explicit, environ)[0]


def resolve_data_dir(
    file_layer: Mapping[str, Any],
    config_file: Path | None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None,
) -> tuple[Path, str]:
    """The data dir and the rule that chose it (an absolute path; nothing is created).

    An override (a flag) wins; then the config file's `data_dir` (relative to that file); then
    ABBY_DATA_DIR (relative to the current directory, as a shell user expects); then the user
    data dir. Never the current directory by default: cron and systemd start elsewhere.
    """
    if (overrides or {}).get("data_dir"):
        raw, anchor, source = overrides["data_dir"], Path.cwd(), "the command line"  # type: ignore[index]
    elif file_layer.get("data_dir"):
        assert config_file is not None
        raw, anchor = file_layer["data_dir"], config_file.parent.resolve()
        source = f"data_dir in {config_file.resolve()}"
    elif environ.get("ABBY_DATA_DIR"):
        raw, anchor, source = environ["ABBY_DATA_DIR"], Path.cwd(), "ABBY_DATA_DIR"
    else:
        chosen = user_data_dir()
        _refuse_legacy_data_dir(chosen, config_file)
        return chosen, "the user data dir"
    if not isinstance(raw, str | os.PathLike):
        raise ConfigError(f"data_dir: invalid value {raw!r}: must be a path")
    path = Path(raw).expanduser()
    # normpath, not resolve: '..' folded for the messages, symbolic links left as given.
    return Path(os.path.normpath(path if path.is_absolute() else anchor / path)), source


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file {path}: malformed YAML{where}: {problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of keys")
    return data


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if not all(parts):
            raise ConfigError(f"environment variable {name}: malformed name")
        node = layer
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name}: conflicts with another variable")
        node[parts[-1]] = _env_value(value)
    if environ.get("ABBY_DATA_DIR"):
        layer["data_dir"] = environ["ABBY_DATA_DIR"]
    if environ.get("ABBY_ENCRYPTION_KEYS"):
        layer.setdefault("security", {})["encryption_keys"] = environ["ABBY_ENCRYPTION_KEYS"]
    return layer


def _env_value(raw: str) -> Any:  # noqa: ANN401 - a YAML value, validated by the model
    # Lists and mappings may be given as YAML flow ("[1, 2]", "{a: 1}"); scalars stay strings
    # and pydantic coerces them, so "007" stays "007" for a string field.
    stripped = raw.strip()
    if stripped[:1] in "[{":
        import yaml

        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError:
            return raw
    return raw


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown key {key}"
    value = error.get("input")
    shown = "***" if _looks_secret(key) else repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: invalid value {shown}: {msg}"


def _looks_secret(key: str) -> bool:
    return any(word in key for word in ("token", "key", "uri", "password", "secret"))


def _refuse_legacy_data_dir(chosen: Path, config_file: Path | None) -> None:
    """Refuse to move silently off data kept where the data dir used to default to.

    Before the user data dir, the default was ./data beside the config file (or in the
    current directory). An upgraded set-up without `data_dir` would otherwise start a new,
    empty store in the user data dir: the bot on fresh books, cron auditing nothing.
    """
    sqlite_name = DatabaseSettings().sqlite_file
    if (chosen / sqlite_name).exists():
        return
    anchor = config_file.parent if config_file is not None else Path(".")
    legacy = Path(os.path.abspath(anchor / "data"))
    if (legacy / sqlite_name).is_file():
        where = f"data_dir: {legacy} in {config_file}" if config_file else f"ABBY_DATA_DIR={legacy}"
        raise ConfigError(
            f"Abby data is in {legacy}, the old default data dir, but the data dir is now "
            f"{chosen} (the user data dir): set {where} to keep using it, or move it there"
        )


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from every source; raise ConfigError with one line on bad input."""
    environ = os.environ if environ is None else environ
    path, config_source = locate_config_file(config_file, environ)
    layers: dict[str, Any] = {}
    file_layer: dict[str, Any] = {}
    if path is not None:
        file_layer = _read_yaml(path)
        if "config_file" in file_layer:
            raise ConfigError(f"config file {path}: unknown key config_file")
        check_secret_file_mode(path, file_layer)
        layers = _merge(layers, file_layer)
    layers = _merge(layers, _env_layer(environ))
    if overrides:
        layers = _merge(layers, overrides)

    data_dir, data_dir_source = resolve_data_dir(file_layer, path, environ, overrides)
    layers["data_dir"] = data_dir
    layers["config_file"] = path.resolve() if path is not None else None
    try:
        settings = Settings.model_validate(layers)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = f"config file {path}" if path else "configuration"
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: {_describe(first)}{extra}") from None
    settings._sources.update(config=config_source, data_dir=data_dir_source)
    check_storage_root(settings)
    return settings


def _secret_keys(layer: Mapping[str, Any], model: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted keys of `layer` that hold a non-empty secret (a SecretStr field)."""
    found: list[str] = []
    for name, value in layer.items():
        field = model.model_fields.get(name) if isinstance(name, str) else None
        if field is None or value in (None, ""):
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if isinstance(value, Mapping):
                found.extend(_secret_keys(value, annotation, f"{prefix}{name}."))
            continue
        if SecretStr in (annotation, *getattr(annotation, "__args__", ())):
            # A MongoDB URI is a secret only when it carries credentials.
            if name == "uri" and "@" not in str(value):
                continue
            found.append(f"{prefix}{name}")
    return found


def check_secret_file_mode(path: Path, file_layer: Mapping[str, Any]) -> None:
    """Refuse a config file that holds a secret and that group or others can read.

    As ssh refuses a private key others can read: the secret may already have leaked, and
    running on would hide that. Raises ConfigError naming the chmod to run.
    """
    secrets = _secret_keys(file_layer, Settings)
    if not secrets:
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"config file {path} holds a secret ({', '.join(secrets)}) and has mode {mode:04o}, "
            f"readable by others; make it owner-only: chmod 600 {path.resolve()}"
        )


def check_storage_root(settings: Settings) -> None:
    """Refuse a storage root that is, holds or lies inside the data dir's own files.

    Cleanup deletes what it takes for orphans under the root: a root set to the data dir (or
    above it) once cost the key file, the log and the telemetry. Raises ConfigError.
    """
    if settings.storage.root is None:
        return
    root = Path(os.path.realpath(settings.storage.root))
    data_dir = Path(os.path.realpath(settings.data_dir))
    advice = f"give storage a directory of its own, such as {data_dir / 'storage'} (the default)"
    if root == data_dir or root in data_dir.parents:
        what = "is the data dir itself" if root == data_dir else f"contains the data dir {data_dir}"
        raise ConfigError(f"storage.root {root} {what}: {advice}")
    owned = {
        "the database": settings.sqlite_path,
        "the log dir": settings.log_dir,
        "the telemetry events": settings.events_path,
        "the Chroma store": settings.chroma_path,
        "the model cache": settings.data_dir / "models",
        "the key file": settings.key_file,
        "the config file": settings.config_file,
    }
    if settings.telemetry.events_file is None:
        owned["the telemetry dir"] = settings.events_path.parent
    for what, path in owned.items():
        if path is None:
            continue
        real = Path(os.path.realpath(path))
        if root == real or root in real.parents:
            raise ConfigError(f"storage.root {root} contains {what} {real}: {advice}")
        if real in root.parents:
            raise ConfigError(f"storage.root {root} lies inside {what} {real}: {advice}")


def read_secret_file(path: Path) -> str:
    """Read a secret file, refusing one that group or others can read (it must be 0600)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"secret file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret file {path} has mode {stat.S_IMODE(mode):04o}; "
            f"it must be readable by its owner only (chmod 600 {path})"
        )
    return path.read_text(encoding="utf-8")
