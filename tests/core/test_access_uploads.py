"""The attachment rules of /kb ingest on their own: names, the private folder, the download's
cap, deadline and redirects, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from core.errors import AttachmentRefused, ServiceUnavailable
from core.moderation.uploads import PrivateDir, download, safe_name
from tests.support.attachment_server import AttachmentServer, Route


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\boot.ini.txt", "boot.ini.txt"),
        ("notes <@everyone>.md", "notes _everyone_.md"),
        ("...", "upload"),
    ],
)
def test_an_attachment_name_is_only_a_name(given: str, expected: str) -> None:
    assert safe_name(given) == expected


def test_the_private_folder_is_owner_only_and_removed_after() -> None:
    with PrivateDir() as folder:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        (folder / "a.md").write_text("x")
    assert not folder.exists()


async def test_a_redirect_on_the_same_host_is_followed(tmp_path: Path) -> None:
    with AttachmentServer() as files:
        files.serve("/real.md", b"# Hello\n")
        files.routes["/moved.md"] = Route(status=301, headers={"Location": "/real.md"})
        size = await download(files.url("/moved.md"), tmp_path / "a.md", max_bytes=1024, timeout=5)
        assert size == 8 and (tmp_path / "a.md").read_bytes() == b"# Hello\n"
        assert files.fetched == ["/moved.md", "/real.md"]
        assert stat.S_IMODE(os.stat(tmp_path / "a.md").st_mode) == 0o600


async def test_an_announced_size_over_the_cap_is_not_read(tmp_path: Path) -> None:
    with AttachmentServer() as files:
        url = files.serve("/big.md", b"a" * 4096)
        with pytest.raises(AttachmentRefused, match="not downloaded"):
            await download(url, tmp_path / "a.md", max_bytes=1024, timeout=5)


async def test_a_server_that_stalls_is_given_up_on_at_the_deadline(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.md"
    began = time.monotonic()
    try:
        with pytest.raises(ServiceUnavailable, match="did not arrive within 0.5 s"):
            await download(url, tmp_path / "a.md", max_bytes=1024, timeout=0.5)
        assert time.monotonic() - began < 3
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


async def test_an_http_error_is_a_temporary_failure(tmp_path: Path) -> None:
    with AttachmentServer() as files:
        with pytest.raises(ServiceUnavailable, match="HTTP 404"):
            await download(files.url("/gone.md"), tmp_path / "a.md", max_bytes=1024, timeout=5)
        assert not (tmp_path / "a.md").exists()
