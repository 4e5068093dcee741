"""Users: Discord profiles per scope (a guild, or global when guild_id is None).

The service lives in `core.users.service`, the records and the repository interface in
`core.users.repository`, a member's data (export, erasure) in `core.users.privacy`; this
package re-exports the public names. The seed's profile functions (`upsert_user`, ...) are
in `core.db`.
"""

from __future__ import annotations

from core.users.repository import UserProfile, UserRepository
from core.users.service import MEMBER_FIELDS, UPDATABLE_FIELDS, UserService, suggest_timezones

__all__ = [
    "MEMBER_FIELDS",
    "UPDATABLE_FIELDS",
    "UserProfile",
    "UserRepository",
    "UserService",
    "suggest_timezones",
]
