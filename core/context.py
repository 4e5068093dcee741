"""The application context: opens the stores once from settings and builds the services.

The CLI and the bot open one context at start-up; tests open one on a temporary data dir.
A context opened with ``create_store=False`` (the CLI's read-only and maintenance commands)
never creates a store: with no Abby data where the settings point, it raises ConfigError
naming the place and the rule that chose it, instead of starting an empty store there.
The seed's module-level functions (`core.economy.add_xp(...)`, `core.database.upsert_user(...)`)
use `current()`, which opens a context from the environment on first use, so they work in a
fresh process where only ABBY_DATA_DIR (or ABBY_DATABASE__URI) is set.
This is the only module that chooses between the SQLite and MongoDB backends.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from core.clock import Clock, SystemClock
from core.config import Settings, load_settings
from core.errors import ConfigError, InvalidInput, ReadOnlyStorage
from core.permissions import PRIVATE_DIR, restrict_umask

if TYPE_CHECKING:
    from pathlib import Path

    from core.db import Database
    from core.db.mongo import MongoDatabase
    from core.db.records import Portable
    from core.db.sqlite import SqliteDatabase
    from core.economy.bank import BankService
    from core.economy.xp import XpService
    from core.images.generation import GenerationService
    from core.llm.assistant import Assistant
    from core.llm.client import LLMClient
    from core.llm.conversation import ConversationManager
    from core.moderation import ModerationService
    from core.persona.persona import PersonalityConfig
    from core.rag.repository import DocumentRepository
    from core.rag.service import RagService
    from core.security.service import KeyService
    from core.sessions.service import SessionService
    from core.storage import QuotaManager, StorageManager
    from core.telemetry.events import EventLog
    from core.telemetry.governance import Governance
    from core.users.privacy import MemberData
    from core.users.service import UserService


class AppContext:
    """Settings, a clock, the open database and the services built on them."""

    # Services whose repositories `init_schema()` creates; each domain adds its own.
    DOMAINS: tuple[str, ...] = (
        "users",
        "xp",
        "bank",
        "sessions",
        "storage",
        "quota",
        "rag_documents",
        "moderation",
    )

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, create_store: bool = True
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.create_store = create_store
        self._lock = threading.RLock()
        # Before any store opens: SQLite, Chroma and the model cache create files Abby cannot
        # pass a mode to, and they hold what no other local user may read (core.permissions).
        restrict_umask()

    # --- stores ---------------------------------------------------------------------------

    def ensure_data_dir(self) -> None:
        """Create the data dir on first use and prove it is writable."""
        path = self.settings.data_dir
        try:
            path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the data dir {path}: {exc.strerror}") from exc
        if not os.access(path, os.W_OK | os.X_OK):
            if os.statvfs(path).f_flag & os.ST_RDONLY:  # temporary (exit 75), not the config's
                raise ReadOnlyStorage(f"the data dir {path} is on a read-only file system")
            raise ConfigError(f"the data dir {path} is not writable")

    @cached_property
    def database(self) -> SqliteDatabase | MongoDatabase:
        with self._lock:
            db_settings = self.settings.database
            if db_settings.uri is None:
                from core.db.sqlite import SqliteDatabase

                if not self.create_store:
                    require_existing_data(self.settings)
                self.ensure_data_dir()
                return SqliteDatabase(
                    self.settings.sqlite_path, busy_timeout_ms=db_settings.busy_timeout_ms
                )
            from core.db.mongo import MongoDatabase

            mongo = MongoDatabase(
                db_settings.uri.get_secret_value(),
                name=db_settings.name,
                server_selection_timeout_ms=db_settings.server_selection_timeout_ms,
            )
            # No schema record: this database was never set up (a typo in its name, say);
            # reading it would report an empty community as healthy.
            if not self.create_store and not mongo.schema_versions():
                from core.urls import mask_url

                mongo.close()
                raise ConfigError(
                    f"no Abby data in MongoDB at {mask_url(mongo.location)} (database.uri and "
                    "database.name; run `abby db init` or `abby init` to set it up)"
                )
            return mongo

    def mongo(self) -> MongoDatabase:
        """The MongoDB backend, or ConfigError on the embedded one (seed's get_collection)."""
        if self.settings.database.uri is None:
            raise ConfigError(
                "the database is the embedded SQLite store; set database.uri "
                "(ABBY_DATABASE__URI=mongodb://...) to use MongoDB collections"
            )
        return self.database  # type: ignore[return-value]

    def _repository(self, domain: str) -> Any:  # noqa: ANN401 - the domain's own interface
        """The domain's repository on this context's database (see REPOSITORIES)."""
        return open_repository(domain, self.database)

    # --- services -------------------------------------------------------------------------

    @cached_property
    def events(self) -> EventLog:
        from core.telemetry.events import EventLog

        return EventLog.from_settings(self.settings)

    @cached_property
    def governance(self) -> Governance:
        """The one events collaborator every service is built with."""
        from core.telemetry.governance import Governance

        return Governance(self.events)

    @cached_property
    def users(self) -> UserService:
        from core.users.service import UserService

        return UserService(repo=self._repository("users"), clock=self.clock)

    @cached_property
    def xp(self) -> XpService:
        from core.economy.xp import XpService

        return XpService(
            repo=self._repository("xp"),
            settings=self.settings.xp,
            clock=self.clock,
            events=self.governance,
        )

    @cached_property
    def bank(self) -> BankService:
        """The bank; opening it finishes or undoes movements a dead process left pending."""
        self.bank_as_found.recover()
        return self.bank_as_found

    @cached_property
    def bank_as_found(self) -> BankService:
        """The bank without the recovery its opening runs: for `abby bank recover --dry-run`,
        which must see (and leave) what a crash left behind."""
        from core.economy.bank import BankService

        return BankService(
            repo=self._repository("bank"),
            settings=self.settings.bank,
            clock=self.clock,
            events=self.governance,
        )

    @cached_property
    def keys(self) -> KeyService:
        from core.security.keyring import KeySource
        from core.security.service import KeyService

        def fields() -> list[Any]:
            # Every domain that stores ciphertext lists its encrypted fields here, so that
            # `abby keys status/rotate/retire` cover them all.
            return [*self.sessions.encrypted_fields()]

        return KeyService(
            source=KeySource(self.settings.security, self.settings.key_file),
            fields=fields,
            events=self.governance,
        )

    @cached_property
    def sessions(self) -> SessionService:
        from core.sessions.service import SessionService

        return SessionService(
            repo=self._repository("sessions"),
            keys=lambda: self.keys.ring(),
            key_guard=lambda: self.keys.source.lock(shared=True),
            settings=self.settings.sessions,
            clock=self.clock,
            events=self.governance,
        )

    @cached_property
    def storage(self) -> StorageManager:
        from core.storage.files import StorageManager

        return StorageManager(
            repo=self._repository("storage"),
            settings=self.settings.storage,
            root=self.settings.storage_root,
            clock=self.clock,
            events=self.governance,
            orphan_grace_seconds=self.settings.storage.orphan_grace_seconds,
        )

    @cached_property
    def quota(self) -> QuotaManager:
        from core.storage.quota import QuotaManager

        return QuotaManager(
            files=self._repository("storage"),
            daily=self._repository("quota"),
            settings=self.settings.quota,
            clock=self.clock,
        )

    @cached_property
    def images(self) -> GenerationService:
        """Image generation: quota reservation + Stability call + storage save."""
        from core.images.generation import GenerationService
        from core.images.stability import make_client

        return GenerationService(
            storage=self.storage, quota=self.quota, client=make_client(self.settings)
        )

    @cached_property
    def moderation(self) -> ModerationService:
        """Admin and moderator operations from Discord, checked against each guild's roles."""
        from core.moderation import ModerationService

        def last_heartbeat() -> str | None:
            beats = self.events.tail(1, event_type="heartbeat")
            return beats[0].get("ts") if beats else None

        return ModerationService(
            repo=self._repository("moderation"),
            settings=self.settings.discord,
            clock=self.clock,
            xp=lambda: self.xp,
            bank=lambda: self.bank,
            rag=lambda: self.rag,
            events=self.governance,
            db_status=self.status,
            last_heartbeat=last_heartbeat,
        )

    @cached_property
    def rag_documents(self) -> DocumentRepository:
        """The RAG document records (`rag` opens them only when an operation needs them)."""
        return self.rag.repo

    @cached_property
    def rag(self) -> RagService:
        """The knowledge base; the records, Chroma and the model open on first use."""
        from core.rag.service import RagService

        if not self.create_store:  # a query opens Chroma and the model before the records
            require_existing_data(self.settings)

        return RagService(
            repo=lambda: self._repository("rag_documents"),
            settings=self.settings.rag,
            embedding_settings=self.settings.embeddings,
            chroma_path=self.settings.chroma_path,
            clock=self.clock,
            events=self.governance,
            model_cache=self.settings.data_dir / "models",
            private_paths=self.private_paths(),
        )

    @cached_property
    def privacy(self) -> MemberData:
        """A member's data: export and erasure across every domain (core.users.privacy)."""
        from core.users.privacy import MemberData, PseudonymKey

        # The services' own repositories: one wiring of each backend, chosen above.
        return MemberData(
            users=self.users._repo,
            xp=self.xp._repo,
            bank=self.bank._repo,
            sessions=self.sessions,
            session_repo=self.sessions._repo,
            storage=self.storage,
            daily=self.quota._daily,
            documents=lambda: self.rag_documents,
            key=PseudonymKey(self.settings.data_dir / "pseudonym.key"),
            events=self.governance,
            now=self.clock.now,
            export_cooldown_seconds=self.settings.privacy.export_cooldown_seconds,
        )

    def private_paths(self) -> tuple[Path, ...]:
        """Abby's own files, which an ingest never reads even inside a folder it is given."""
        s = self.settings
        db = s.sqlite_path
        wal = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
        return (s.data_dir, s.key_file, db, *wal, s.log_dir, s.events_path)

    @cached_property
    def llm(self) -> LLMClient:
        from core.llm.client import LLMClient

        return LLMClient(settings=self.settings.llm)

    @cached_property
    def conversations(self) -> ConversationManager:
        from core.llm.conversation import ConversationManager

        return ConversationManager(
            sessions=self.sessions, max_history=self.settings.llm.max_history
        )

    @cached_property
    def assistant(self) -> Assistant:
        """Answering members (core.llm.assistant): the CLI's ask and chat and the bot's."""
        from core.llm.assistant import Assistant
        from core.persona.persona import load_persona

        def persona(name: str | None) -> PersonalityConfig:
            return load_persona(name or self.settings.persona.name, self.settings.data_dir)

        return Assistant(
            sessions=self.sessions,
            llm=lambda: self.llm,
            rag=lambda: self.rag,
            persona=persona,
            settings=self.settings.chat,
            max_history=self.settings.llm.max_history,
        )

    def repositories(self) -> dict[str, Portable]:
        """Each domain's repository on this context's database, for export and import."""
        return repositories_of(self.database)

    # --- lifecycle ------------------------------------------------------------------------

    def init_schema(self) -> None:
        """Create every domain's tables or indexes (idempotent; also happens on first use)."""
        for domain in self.DOMAINS:
            getattr(self, domain)

    def status(self) -> dict[str, Any]:
        """Backend, location, schema versions and record counts, for `abby db status`."""
        db: Database = self.database
        return {
            "backend": db.backend,
            "location": db.location,
            "schema": db.schema(),
            "tables": db.tables(),
        }

    def close(self) -> None:
        if "rag" in self.__dict__:
            self.rag.close()
            del self.__dict__["rag"]
            self.__dict__.pop("rag_documents", None)
        if "database" in self.__dict__:
            self.database.close()
            del self.__dict__["database"]


def has_existing_data(settings: Settings) -> bool:
    """Whether Abby's data is where settings point: the embedded database, the marker of a
    lost one, or the key file (`abby keys generate --write` may come before any database)."""
    from core.db.sqlite import MARKER_SUFFIX

    db = settings.sqlite_path
    marker = db.with_name(db.name + MARKER_SUFFIX)
    return db.is_file() or marker.exists() or settings.key_file.is_file()


def require_existing_data(settings: Settings) -> None:
    """Refuse (ConfigError, exit 78) when the embedded store does not exist; create nothing.

    The MongoDB backend is checked on the server when the database opens. A missing
    database whose marker survives is left to the SQLite backend's DatabaseLost.
    """
    if settings.database.uri is not None or has_existing_data(settings):
        return
    raise ConfigError(
        f"no Abby data in {settings.data_dir} ({settings.data_dir_source}; set ABBY_DATA_DIR "
        "or data_dir in the config, or run `abby init`)"
    )


# Every domain's repository classes, (SQLite, MongoDB) as "module:class": the one table that
# chooses a backend, in the order a copy moves them (the bank's transfers before anything that
# refers to them). Each class takes the database alone and creates its schema on first open.
REPOSITORIES: dict[str, tuple[str, str]] = {
    "users": ("core.users._sqlite:SqliteUserRepository", "core.users._mongo:MongoUserRepository"),
    "xp": (
        "core.economy._sqlite_xp:SqliteXpRepository",
        "core.economy._mongo_xp:MongoXpRepository",
    ),
    "bank": (
        "core.economy._sqlite_bank:SqliteBankRepository",
        "core.economy._mongo_bank:MongoBankRepository",
    ),
    "sessions": (
        "core.sessions._sqlite:SqliteSessionRepository",
        "core.sessions._mongo:MongoSessionRepository",
    ),
    "storage": (
        "core.storage._sqlite:SqliteFileRepository",
        "core.storage._mongo:MongoFileRepository",
    ),
    "quota": (
        "core.storage._sqlite:SqliteDailyCounterRepository",
        "core.storage._mongo:MongoDailyCounterRepository",
    ),
    "rag_documents": (
        "core.rag._sqlite:SqliteDocumentRepository",
        "core.rag._mongo:MongoDocumentRepository",
    ),
    "moderation": (
        "core.moderation._sqlite:SqliteGuildSettingsRepository",
        "core.moderation._mongo:MongoGuildSettingsRepository",
    ),
}


def open_repository(domain: str, database: SqliteDatabase | MongoDatabase) -> Any:  # noqa: ANN401 - the domain's interface
    """One domain's repository on a database (its module is imported only now)."""
    import importlib

    sqlite, mongo = REPOSITORIES[domain]
    module, _, name = (sqlite if database.backend == "sqlite" else mongo).partition(":")
    return getattr(importlib.import_module(module), name)(database)


def repositories_of(database: SqliteDatabase | MongoDatabase) -> dict[str, Portable]:
    """Open every domain's repository on a database (creating its schema if new)."""
    return {domain: open_repository(domain, database) for domain in REPOSITORIES}


def open_database(
    uri: str, settings: Settings, *, server_selection_timeout_ms: int | None = None
) -> SqliteDatabase | MongoDatabase:
    """A database from a URI: `sqlite:///absolute/path/abby.db` or `mongodb://...`.

    Nothing is created or contacted yet; the first repository opened does that (an
    unreachable server fails within database.server_selection_timeout_ms).
    """
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from pymongo.errors import PyMongoError
        from pymongo.uri_parser import parse_uri

        from core.db.mongo import MongoDatabase, redact_uri

        try:
            name = parse_uri(uri, connect_timeout=1).get("database")
        except (PyMongoError, ValueError) as exc:
            raise InvalidInput(f"{redact_uri(uri)} is not a valid MongoDB URI: {exc}") from exc
        return MongoDatabase(
            uri,
            name=name or settings.database.name,
            server_selection_timeout_ms=server_selection_timeout_ms
            or settings.database.server_selection_timeout_ms,
        )
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        from core.db.sqlite import SqliteDatabase

        # sqlite:////srv/abby.db (a slash too many) is the same file; POSIX keeps a leading "//".
        path = Path("/" + uri.removeprefix("sqlite://").lstrip("/"))
        if not path.is_absolute() or ".." in path.parts or path.name in ("", "."):
            raise InvalidInput(f"{uri} must name an absolute file path: sqlite:///srv/abby.db")
        return SqliteDatabase(path, busy_timeout_ms=settings.database.busy_timeout_ms)
    raise InvalidInput(
        "the target must be mongodb://..., mongodb+srv://... or sqlite:///absolute/path.db"
    )


_current: AppContext | None = None
_current_lock = threading.Lock()


def open_context(
    settings: Settings | None = None, *, clock: Clock | None = None, create_store: bool = True
) -> AppContext:
    """Open a context and make it the current one for the seed's shortcut functions.

    `create_store=False` is for commands that only read or maintain: see AppContext.
    """
    global _current
    context = AppContext(settings or load_settings(), clock=clock, create_store=create_store)
    with _current_lock:
        _current = context
    return context


def current() -> AppContext:
    """The current context, opened from the environment and default files on first use."""
    global _current
    with _current_lock:
        if _current is None:
            _current = AppContext(load_settings())
        return _current


@contextmanager
def use_context(context: AppContext) -> Iterator[AppContext]:
    """Make `context` current for a block (tests), restoring the previous one after."""
    global _current
    with _current_lock:
        previous, _current = _current, context
    try:
        yield context
    finally:
        with _current_lock:
            _current = previous
