"""The document database: the SQLite and MongoDB backends, their migrations, the record codec
and the backend-neutral records every repository exports and imports.

This package depends on nothing above it (no service, no `core.context`). The seed's Database
API shortcuts (`upsert_user`, `get_collection`, ...) live in `core.database`.
"""
