"""Showing URLs safely: credentials inside a URL never reach a screen, a log or an error.

Operators put credentials in base URLs (``http://user:pass@proxy``, ``mongodb://user:pass@host``).
`mask_url` hides the userinfo of one URL; `mask_urls` does it for every URL inside a text, which
is what log lines and error messages need. The user name is kept when a password follows (it
helps an operator tell two configurations apart); a lone user name is masked too, since it is
often a token (``https://TOKEN@host``).
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://userinfo@ : the userinfo runs to the last "@" before the path, query or fragment,
# so an unescaped "@" inside a password is masked whole.
_CREDENTIALED = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s]*)@")


def _masked(match: re.Match[str]) -> str:
    user, colon, _password = match.group("userinfo").partition(":")
    shown = f"{user}:{MASK}" if colon and user and user != MASK else MASK
    return f"{match.group('scheme')}{shown}@"


def mask_url(url: str) -> str:
    """`url` with any password (or a lone user name) replaced by ``***``."""
    return _CREDENTIALED.sub(_masked, url)


def mask_urls(text: str) -> str:
    """`text` with the credentials of every URL inside it masked."""
    if "://" not in text:
        return text
    return _CREDENTIALED.sub(_masked, text)
