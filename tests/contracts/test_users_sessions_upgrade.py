"""Profiles and sessions written by the code before #10 open with today's code, nothing lost.

The old shapes are written here with plain sqlite3 and pymongo exactly as that code wrote them
(read it with `git show 5f182f4:core/users/_sqlite.py`, `..._mongo.py`, `core/sessions/...`):
SQLite profiles stamped with the clock's own `isoformat()` (any width, any offset), session
rows copied in with millisecond stamps; MongoDB profiles under an ObjectId `_id` with a unique
(user_id, scope) index, and chat turns keyed "<scope>:<user>".
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from core.clock import FrozenClock
from core.context import AppContext
from core.db.codec import STAMP_WIDTH
from core.db.mongo import scoped_id
from core.db.sqlite import SqliteDatabase
from core.scope import Scope
from core.sessions._sqlite import MIGRATIONS as SESSION_MIGRATIONS
from core.users._sqlite import MIGRATIONS as USER_MIGRATIONS
from tests.conftest import Backend

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))

# (user_id, scope, username, discriminator, display_name, bio, timezone, locale, pronouns,
#  created_at, updated_at) as the old SQLite code stored them: `now.isoformat()` of an aware
# clock (no fraction when it is zero, the clock's own offset), and a naive text a hand
# import left behind.
OLD_SQLITE_USERS = [
    ("u1", "", "river", None, "River", "likes owls", "Europe/Paris", "fr-FR", "they/them",
     "2026-03-01T12:00:00+00:00", "2026-03-01T13:30:00.250000+01:00"),
    ("u1", "g1", "river", "0042", None, None, None, None, None,
     "2026-02-27T08:15:30.123456+00:00", "2026-02-28T23:59:59"),
]  # fmt: skip
OLD_SESSION = {
    "session_id": "s" * 32,
    "user_id": "u1",
    "scope": "g1",
    "channel_id": "c1",
    "status": "closed",
    "turns": 2,
    "created_at": "2026-02-28T10:00:00.000+00:00",  # what `abby db copy` wrote (milliseconds)
    "last_message_at": "2026-02-28T10:05:00.500000+00:00",
    "closed_at": "2026-02-28T10:06:00.000+00:00",
    "summary": "gAAAA-summary-token",
    "summary_key_id": "k1",
}
OLD_MESSAGES = [
    ("s" * 32, 1, "user", "gAAAA-token-1", "k1", "2026-02-28T10:00:00.000+00:00"),
    ("s" * 32, 2, "assistant", "gAAAA-token-2", "k1", "2026-02-28T10:05:00.500000+00:00"),
]


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _old_sqlite(path: Any) -> None:
    """The schema as the old code left it (its applied migrations), then rows in its forms."""
    old = SqliteDatabase(path)
    old.migrate(USER_MIGRATIONS[:2])
    old.migrate(SESSION_MIGRATIONS[:3])
    old.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", OLD_SQLITE_USERS
        )
        conn.execute("INSERT INTO privacy_exports VALUES ('u1', 1772366400.5)")
        conn.execute(
            f"INSERT INTO sessions ({', '.join(OLD_SESSION)})"
            f" VALUES ({', '.join('?' * len(OLD_SESSION))})",
            list(OLD_SESSION.values()),
        )
        conn.executemany("INSERT INTO session_messages VALUES (?, ?, ?, ?, ?, ?)", OLD_MESSAGES)
        conn.execute("INSERT INTO chat_turns VALUES ('u1', 'g1', '2026-03-01T12:00', 2)")
    conn.close()


def test_sqlite_profiles_and_sessions_migrate_to_fixed_width_utc_and_keep_every_field(
    tmp_path: Any,
) -> None:
    backend = Backend("sqlite", {"ABBY_DATA_DIR": str(tmp_path / "data")})
    settings = backend.settings()
    settings.data_dir.mkdir(mode=0o700, parents=True)
    _old_sqlite(settings.sqlite_path)
    ctx = AppContext(settings, clock=FrozenClock(NOW))
    try:
        for row in OLD_SQLITE_USERS:
            user_id, scope, username, disc, display, bio, zone, locale, pronouns = row[:9]
            profile = ctx.users.get(user_id, guild_id=Scope.from_key(scope).guild_id)
            assert profile is not None
            assert (profile.username, profile.discriminator, profile.display_name) == (
                username,
                disc,
                display,
            )
            assert (profile.bio, profile.timezone, profile.locale, profile.pronouns) == (
                bio,
                zone,
                locale,
                pronouns,
            )
            assert profile.created_at == _instant(row[9])
            assert profile.updated_at == _instant(row[10])
            assert profile.created_at.tzinfo is not None
        record = ctx.sessions._repo.get(OLD_SESSION["session_id"])
        assert record is not None
        assert (record.user_id, record.guild_id, record.channel_id) == ("u1", "g1", "c1")
        assert (record.status, record.turns, record.has_summary) == ("closed", 2, True)
        assert record.created_at == _instant(OLD_SESSION["created_at"])
        assert record.last_message_at == _instant(OLD_SESSION["last_message_at"])
        assert record.closed_at == _instant(OLD_SESSION["closed_at"])
        stored = ctx.sessions._repo.messages(OLD_SESSION["session_id"])
        assert [(m.seq, m.role, m.token, m.key_id) for m in stored] == [
            (seq, role, token, key) for _, seq, role, token, key, _ in OLD_MESSAGES
        ]
        assert [m.at for m in stored] == [_instant(row[5]) for row in OLD_MESSAGES]
        assert ctx.sessions._repo.summary(OLD_SESSION["session_id"]) == (
            "gAAAA-summary-token",
            "k1",
        )
        # The member's turn count of this minute and their export cooldown carried over.
        assert ctx.sessions._repo.take_turn("u1", Scope.of("g1"), "2026-03-01T12:00", 3) == 3
        assert ctx.users._repo.claim_export("u1", 1772366401.0, 1772366400.0) == 1772366400.5
    finally:
        ctx.close()
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        texts = [
            *(v for row in conn.execute("SELECT created_at, updated_at FROM users") for v in row),
            *(
                v
                for row in conn.execute(
                    "SELECT created_at, last_message_at, closed_at FROM sessions"
                )
                for v in row
            ),
            *(row[0] for row in conn.execute("SELECT at FROM session_messages")),
        ]
    finally:
        conn.close()
    assert len(texts) == 9
    assert all(len(t) == STAMP_WIDTH and t.endswith("+00:00") for t in texts), texts


# --- MongoDB ------------------------------------------------------------------------------


def _old_mongo(db: Any) -> list[dict[str, Any]]:
    """Profiles as the old MongoDB code wrote them: an ObjectId `_id`, a unique index."""
    users = db["users"]
    users.create_index([("user_id", 1), ("scope", 1)], unique=True, name="user_scope")
    profiles = [
        # upsert(): the filter's fields, then the $set of the pipeline.
        {
            "user_id": "u1",
            "scope": "",
            "username": "river",
            "discriminator": None,
            "updated_at": NOW - timedelta(days=1),
            "created_at": NOW - timedelta(days=30),
            "display_name": "River",
            "bio": "likes owls",
            "timezone": "Europe/Paris",
        },
        # create(): $setOnInsert with the filter's fields.
        {
            "user_id": "u1",
            "scope": "g1",
            "username": "river",
            "discriminator": None,
            "created_at": NOW - timedelta(days=2),
            "updated_at": NOW - timedelta(days=2),
        },
        {
            "user_id": "u2",
            "scope": "g1",
            "username": "sky",
            "discriminator": "0042",
            "updated_at": NOW - timedelta(hours=5),
            "created_at": NOW - timedelta(hours=6),
            "pronouns": "she/her",
        },
    ]
    users.insert_many([dict(p) for p in profiles])
    db["privacy_exports"].insert_one({"_id": "u1", "at": 1772366400.5})
    db["chat_turns"].insert_many(
        [
            {
                "_id": "g1:u1",
                "minute": "2026-03-01T12:00",
                "used": 2,
                "user_id": "u1",
                "scope": "g1",
            },
            {"_id": ":u2", "minute": "2026-03-01T12:00", "used": 1, "user_id": "u2", "scope": ""},
        ]
    )
    db["schema_versions"].insert_many(
        [{"_id": "users", "version": 1}, {"_id": "sessions", "version": 2}]
    )
    return profiles


@pytest.fixture
def mongo_backend(backend: Backend) -> Backend:
    if backend.name != "mongo":
        pytest.skip("the MongoDB re-keying")
    return backend


def _database(backend: Backend) -> Any:
    import pymongo

    client: Any = pymongo.MongoClient(backend.env["ABBY_DATABASE__URI"], tz_aware=True)
    return client[backend.env["ABBY_DATABASE__NAME"]]


def test_mongo_profiles_move_to_scoped_ids_with_every_field(mongo_backend: Backend) -> None:
    db = _database(mongo_backend)
    profiles = _old_mongo(db)
    ctx = AppContext(mongo_backend.settings(), clock=FrozenClock(NOW))
    try:
        assert ctx.users.count() == 3
        docs = {doc["_id"]: doc for doc in db["users"].find({})}
        assert set(docs) == {scoped_id(p["scope"], p["user_id"]) for p in profiles}
        for old in profiles:
            new = dict(docs[scoped_id(old["scope"], old["user_id"])])
            new.pop("_id")
            assert new == old
        assert "user_scope" not in db["users"].index_information()
        river = ctx.users.get("u1")
        assert river is not None and (river.bio, river.display_name) == ("likes owls", "River")
        assert river.created_at == NOW - timedelta(days=30) and river.created_at.tzinfo
        sky = ctx.users.get("u2", guild_id="g1")
        assert sky is not None and (sky.discriminator, sky.pronouns) == ("0042", "she/her")
        assert sky.bio is None
        # The services write to the migrated documents, not beside them.
        ctx.users.upsert("u2", "skye", "0042", guild_id="g1")
        ctx.users.update("u1", {"locale": "fr-FR"}, guild_id="g1")
        assert ctx.users.count() == 3
        assert ctx.users.get("u2", guild_id="g1").username == "skye"  # type: ignore[union-attr]
        assert [p.guild_id for p in ctx.users._repo.member_profiles("u1")] == [None, "g1"]
        # Chat turns kept their count under the scoped `_id`; the export cooldown is untouched.
        ctx.sessions.sweep()  # opens the sessions store, which migrates it
        turns = {doc["_id"]: doc["used"] for doc in db["chat_turns"].find({})}
        assert turns == {scoped_id("g1", "u1"): 2, scoped_id("", "u2"): 1}
        assert ctx.sessions._repo.take_turn("u1", Scope.of("g1"), "2026-03-01T12:00", 3) == 3
        assert ctx.users._repo.claim_export("u1", 1772366401.0, 1772366400.0) == 1772366400.5
    finally:
        ctx.close()
        db.client.drop_database(db.name)
        db.client.close()


def test_an_interrupted_mongo_rekeying_finishes_on_the_next_open(mongo_backend: Backend) -> None:
    """A crash between the copy and the delete leaves both documents; the rerun keeps one."""
    from core.users._mongo import _setup

    db = _database(mongo_backend)
    profiles = _old_mongo(db)
    # The first run copied u2's profile and died before deleting the old document.
    db["users"].drop_index("user_scope")
    old = db["users"].find_one({"user_id": "u2"})
    copy = {**old, "_id": scoped_id("g1", "u2")}
    db["users"].insert_one(copy)
    ctx = AppContext(mongo_backend.settings(), clock=FrozenClock(NOW))
    try:
        assert ctx.users.count() == len(profiles)
        assert all(isinstance(doc["_id"], str) for doc in db["users"].find({}))
        _setup(db)  # and running it once more changes nothing
        assert ctx.users.count() == len(profiles)
        assert ctx.users.get("u2", guild_id="g1").pronouns == "she/her"  # type: ignore[union-attr]
    finally:
        ctx.close()
        db.client.drop_database(db.name)
        db.client.close()


_REKEY = """
from core.context import AppContext
from core.config import load_settings
print(AppContext(load_settings()).users.count())
"""


@pytest.mark.slow
def test_two_processes_rekeying_at_once_keep_each_profile_once(mongo_backend: Backend) -> None:
    from tests.core.security_support import spawn_python

    db = _database(mongo_backend)
    _old_mongo(db)
    db["users"].insert_many(
        [
            {
                "user_id": f"m{n}",
                "scope": "g2",
                "username": f"member {n}",
                "discriminator": None,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for n in range(150)
        ]
    )
    try:
        racers = [spawn_python(_REKEY, mongo_backend.env) for _ in range(2)]
        outputs = [racer.communicate(timeout=300) for racer in racers]
        assert all(r.returncode == 0 for r in racers), [err for _, err in outputs]
        ids = [doc["_id"] for doc in db["users"].find({})]
        assert len(ids) == 153 and len(set(ids)) == 153
        assert all(isinstance(i, str) and "/" in i for i in ids)
        assert (
            db["users"].count_documents({"scope": "g2", "username": {"$regex": "^member "}}) == 150
        )
    finally:
        db.client.drop_database(db.name)
        db.client.close()
