"""Loaders: turn a file into (title, text), or say exactly why it cannot be ingested.

Supported: Markdown (.md .markdown), plain text (.txt), reStructuredText (.rst, headings
become Markdown headings so the chunker sees the structure), HTML (.html .htm, through the
standard library's parser; scripts and styles dropped, headings kept) and PDF (pypdf; a PDF
without a text layer is skipped). Every refusal is a `Skip` with a one-line reason: too big,
empty, binary, not UTF-8, unreadable, not a regular file, unsupported type.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf")
_SNIFF_BYTES = 8192


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


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """Read a regular file of at most max_bytes; raise Skip for anything else.

    The type is checked before opening: opening a FIFO would block forever.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        kind = "broken symbolic link" if path.is_symlink() else "file vanished"
        raise Skip(f"unreadable: {kind}") from None
    except OSError as exc:
        raise Skip(f"unreadable: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise Skip("not a regular file")
    if info.st_size > max_bytes:
        raise Skip(
            f"too large: {info.st_size:,} bytes; the limit is {max_bytes:,} (rag.max_file_bytes)"
        )
    if info.st_size == 0:
        raise Skip("empty file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise Skip(f"unreadable: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # it grew since stat()
        raise Skip(f"too large: over {max_bytes:,} bytes (rag.max_file_bytes)")
    return data


def parse(path: Path, data: bytes) -> LoadedFile:
    """Extract title and text from a file's bytes; raise Skip when there is no text."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        title, text = _pdf(data, path)
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


def _pdf(data: bytes, path: Path) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Skip("encrypted PDF (needs a password)")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except Skip:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Skip(f"unreadable PDF ({type(exc).__name__})") from None
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise Skip(f"PDF has no text layer ({len(pages)} page(s), scanned?); run OCR first")
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = (meta_title or "").strip() or (first_line if len(first_line) <= 100 else "")
    return title, text


def describe_suffixes() -> str:
    return " ".join(SUPPORTED_SUFFIXES)


def walk(root: Path) -> list[Path]:
    """Every non-hidden entry under root (files, links, FIFOs alike), sorted, recursively."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in sorted(filenames) if not name.startswith("."))
    return found
