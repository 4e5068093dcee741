"""Loaders: turn a file into (title, text), or say exactly why it cannot be ingested.

Supported: Markdown (.md .markdown), plain text (.txt), reStructuredText (.rst, headings
become Markdown headings so the chunker sees the structure), HTML (.html .htm, through the
standard library's parser; scripts and styles dropped, headings kept) and PDF (pypdf; a PDF
without a text layer is skipped). Every refusal is a `Skip` with a one-line reason: too big,
empty, binary, not UTF-8, unreadable, not a regular file, unsupported type.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf")
_SNIFF_BYTES = 8192
_PDF_WORKER = Path(__file__).with_name("_pdf_text.py")


class Skip(Exception):
    """A file that is not ingested, with the reason shown to the operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    title: str
    text: str


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


@dataclass(frozen=True)
class Boundary:
    """Where one ingest root may read: files whose real path lies inside `root`, and never
    anything under `private` (Abby's data dir, key file, database, logs, telemetry).

    Both are resolved paths. Symbolic links are followed, then judged by where they land.
    """

    root: Path
    private: tuple[Path, ...] = ()

    @classmethod
    def of(cls, root: Path, private: Iterable[Path] = ()) -> Boundary:
        return cls(root.resolve(), tuple(Path(p).expanduser().resolve() for p in private))

    def is_private(self, path: Path) -> bool:
        return any(path == p or path.is_relative_to(p) for p in self.private)

    def check(self, path: Path) -> tuple[Path, os.stat_result]:
        """The real path and stat of a file this root may open; raise Skip naming why not."""
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            kind = "broken symbolic link" if path.is_symlink() else "file vanished"
            raise Skip(f"unreadable: {kind}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Skip("unreadable: symbolic link loop") from None
            raise Skip(f"unreadable: {exc.strerror or exc}") from None
        if self.is_private(real):
            raise Skip(PRIVATE_REASON)
        if real != self.root and not real.is_relative_to(self.root):
            raise Skip(f"symbolic link to {_kind_outside(real)} outside {self.root}: not followed")
        try:
            info = real.stat()
        except OSError as exc:
            raise Skip(f"unreadable: {exc.strerror or exc}") from None
        if stat.S_ISDIR(info.st_mode) and path.is_symlink():
            raise Skip("symbolic link to a directory: not followed")
        if not stat.S_ISREG(info.st_mode):
            raise Skip(f"not a regular file ({_file_kind(info.st_mode)})")
        return real, info

    def contains(self, real: Path) -> bool:
        inside = real == self.root or real.is_relative_to(self.root)
        return inside and not self.is_private(real)


PRIVATE_REASON = "Abby's own data (data dir, key file, database, logs): never ingested"


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "special file"


def _kind_outside(real: Path) -> str:
    return "a directory" if real.is_dir() else "a file"


def read_bytes(path: Path, max_bytes: int, boundary: Boundary | None = None) -> bytes:
    """Read a regular file of at most max_bytes; raise Skip for anything else.

    The type is checked before opening (opening a FIFO would block), and again on the open
    descriptor, which is also checked to be the file that was judged: a file swapped for a
    symbolic link or another file between the check and the open is refused, not read.
    """
    boundary = boundary or Boundary.of(path.parent if path.parent != path else path)
    real, info = boundary.check(Path(os.path.abspath(path)))
    if info.st_size > max_bytes:
        raise Skip(
            f"too large: {info.st_size:,} bytes; the limit is {max_bytes:,} (rag.max_file_bytes)"
        )
    if info.st_size == 0:
        raise Skip("empty file")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Skip("changed while being read (now a symbolic link): not followed") from None
        raise Skip(f"unreadable: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or not stat.S_ISREG(
            opened.st_mode
        ):
            raise Skip("changed while being read: skipped")
        # The descriptor's own path catches a parent directory swapped for a link meanwhile.
        proc = f"/proc/self/fd/{fd}"
        if os.path.exists(proc) and not boundary.contains(Path(os.readlink(proc))):
            raise Skip("changed while being read (moved outside the folder): skipped")
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise Skip(f"unreadable: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # it grew since stat()
        raise Skip(f"too large: over {max_bytes:,} bytes (rag.max_file_bytes)")
    return data


@dataclass(frozen=True)
class PdfBudget:
    """What reading one PDF may cost (rag.max_pdf_pages, rag.pdf_timeout_seconds,
    rag.max_pdf_decompressed_bytes)."""

    max_pages: int = 1000
    seconds: float = 60.0
    max_decompressed: int = 64 * 1024 * 1024


def parse(path: Path, data: bytes, pdf_budget: PdfBudget | None = None) -> LoadedFile:
    """Extract title and text from a file's bytes; raise Skip when there is no text."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        title, text = _pdf(data, pdf_budget or PdfBudget())
    else:
        raw = decode_text(data)
        if suffix in (".html", ".htm"):
            title, text = _html(raw)
        elif suffix == ".rst":
            title, text = _rst(raw)
        elif suffix in (".md", ".markdown"):
            title, text = _markdown_title(raw), raw
        else:
            title, text = "", raw
    text = text.strip()
    if not text:
        raise Skip("empty file (no text)")
    return LoadedFile(path=path, title=(title or _title_from_name(path)).strip(), text=text)


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (or BOM-marked UTF-16) text; raise Skip for binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise Skip("binary file (invalid UTF-16)") from None
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise Skip("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Skip(f"not UTF-8 text (invalid byte at offset {exc.start}); binary?") from None
    controls = sum(1 for c in text[:_SNIFF_BYTES] if ord(c) < 32 and c not in "\n\r\t\f")
    if controls > max(8, len(text[:_SNIFF_BYTES]) // 100):
        raise Skip("binary file (control characters)")
    return text


def _title_from_name(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


# --- Markdown and reStructuredText -----------------------------------------------------------

_MD_H1 = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_FRONT_MATTER_TITLE = re.compile(r"\A---\n(?:.*\n)*?title:[ \t]*(.+)\n(?:.*\n)*?---\n")


def _markdown_title(text: str) -> str:
    match = _FRONT_MATTER_TITLE.match(text)
    if match:
        return match.group(1).strip().strip("\"'")
    match = _MD_H1.search(text)
    return match.group(1) if match else ""


_RST_ADORNMENT = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}[ \t]*$")


def _rst(text: str) -> tuple[str, str]:
    """Turn reStructuredText section titles into Markdown headings (levels by first use)."""
    lines = text.replace("\r\n", "\n").split("\n")
    styles: list[tuple[str, bool]] = []
    out: list[str] = []
    title = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        over = bool(_RST_ADORNMENT.match(line)) and i + 2 < len(lines)
        if over and lines[i + 1].strip() and _RST_ADORNMENT.match(lines[i + 2]):
            style, name, i = (line[0], True), lines[i + 1].strip(), i + 3
        elif (
            line.strip()
            and i + 1 < len(lines)
            and _RST_ADORNMENT.match(lines[i + 1])
            and len(lines[i + 1].rstrip()) >= len(line.rstrip())
        ):
            style, name, i = (lines[i + 1][0], False), line.strip(), i + 2
        else:
            out.append(line)
            i += 1
            continue
        if style not in styles:
            styles.append(style)
        level = min(styles.index(style) + 1, 6)
        title = title or name
        out.append(f"{'#' * level} {name}")
    return title, "\n".join(out)


# --- HTML ------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    "p div section article main header footer nav aside li ul ol dl dt dd table tr "
    "blockquote pre br hr figure figcaption form fieldset details summary".split()
)
_DROP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.h1 = ""
        self._drop = 0
        self._in_title = False
        self._heading: int | None = None
        self._heading_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_TAGS:
            self._drop += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = int(tag[1])
            self._heading_text = []
            self.parts.append("\n\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag not in ("br", "li", "tr", "dt", "dd") else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_TAGS:
            self._drop = max(0, self._drop - 1)
        elif tag == "title":
            self._in_title = False
        elif self._heading is not None and re.fullmatch(r"h[1-6]", tag):
            name = " ".join("".join(self._heading_text).split())
            if name:
                self.parts.append(f"{'#' * self._heading} {name}\n\n")
                if self._heading == 1 and not self.h1:
                    self.h1 = name
            self._heading = None
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._drop:
            return
        elif self._heading is not None:
            self._heading_text.append(data)
        else:
            self.parts.append(data)


def _html(raw: str) -> tuple[str, str]:
    parser = _TextExtractor()
    parser.feed(raw)
    parser.close()
    text = "".join(parser.parts)
    # Collapse the whitespace HTML ignores, keeping paragraph breaks.
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n[ \t]*\n", text)]
    lines = "\n\n".join(p for p in paragraphs if p)
    return " ".join(parser.title.split()) or parser.h1, lines


# --- PDF -------------------------------------------------------------------------------------


def _pdf(data: bytes, budget: PdfBudget) -> tuple[str, str]:
    """Run pypdf in a child process (core/rag/_pdf_text.py) under the budget."""
    limits = {
        "max_pages": budget.max_pages,
        "max_decompressed": budget.max_decompressed,
        "cpu_seconds": math.ceil(budget.seconds),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-I", str(_PDF_WORKER), json.dumps(limits)],
            input=data,
            capture_output=True,
            timeout=budget.seconds,
            env={},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Skip(
            f"PDF took over {budget.seconds:g} s to read (rag.pdf_timeout_seconds)"
        ) from None
    try:
        result = json.loads(done.stdout)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        if done.returncode == -signal.SIGXCPU:
            raise Skip(f"PDF took over {budget.seconds:g} s to read (rag.pdf_timeout_seconds)")
        log.warning("the PDF reader exited with %s: %s", done.returncode, done.stderr[-300:])
        raise Skip(f"unreadable PDF (the reader exited with {done.returncode})")
    if "skip" in result:
        raise Skip(str(result["skip"]))
    pages = [str(page) for page in result.get("pages", [])]
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise Skip(f"PDF has no text layer ({len(pages)} page(s), scanned?); run OCR first")
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    meta_title = str(result.get("title") or "").strip()
    title = meta_title or (first_line if len(first_line) <= 100 else "")
    return title, text


def describe_suffixes() -> str:
    return " ".join(SUPPORTED_SUFFIXES)


def walk(root: Path, boundary: Boundary | None = None) -> list[Path]:
    """Every non-hidden entry under root (files, links, FIFOs alike), sorted, recursively.

    A link to a directory, and a directory holding Abby's own data, is listed but not
    entered, so the caller reports it instead of silently passing over it.
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        entered: list[str] = []
        listed: list[Path] = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            sub = here / name
            if sub.is_symlink() or (boundary is not None and boundary.is_private(sub.resolve())):
                listed.append(sub)
            else:
                entered.append(name)
        dirnames[:] = entered
        found.extend(here / name for name in sorted(filenames) if not name.startswith("."))
        found.extend(listed)
    return found
