"""Write an external evaluation corpus: installed man pages that nobody on this project wrote.

    python scripts/make_external_eval.py OUT_DIR
    abby rag ingest OUT_DIR --guild G
    abby rag eval scripts/external_eval/questions.jsonl --guild G

Renders a fixed list of ~150 section-1 pages (coreutils, util-linux, procps and other Debian
packages) with the system's `man` into OUT_DIR as Markdown, one file per page named
`NAME.1.md`: the title is `name(1)`, each man section (NAME, DESCRIPTION, OPTIONS...) becomes a
`##` heading. Many pages are near neighbours (md5sum/sha1sum/sha256sum/b2sum, head/tail,
nice/renice/ionice/chrt, base32/base64/basenc, who/w/whoami/last), so ranking matters.

The questions (scripts/external_eval/questions.jsonl) were written by reading each page and
asking what a user would ask in other words; each names its page by file name (`source`).
Pages over ~48 KB rendered (curl, find, less, top ...) are left out so the corpus ingests in a
couple of minutes; a page not installed here is skipped and counted. The output is the same on
every machine of the same image: fixed list, fixed width, no hyphenation, no dates added.
Prints one JSON line: {"pages", "skipped", "bytes", "out"}.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SECTION = "1"
WIDTH = "80"
QUESTIONS = Path(__file__).with_name("external_eval") / "questions.jsonl"

# Sorted; duplicates of one page under two names (zcat = gzip, pkill = pgrep) left out.
PAGES = sorted(
    """
    apropos arch awk b2sum base32 base64 basename basenc bc bzip2 cat chgrp chmod chown chrt
    chsh cksum cmp col colrm column comm cp csplit cut date dd df diff dirname dmesg du echo env
    envsubst expand expr factor fallocate file flock fmt fold free fuser getopt grep groups
    gzip head hexdump hostname iconv id install ionice join kill killall last ldd link ln
    logger look ls lscpu make man md5sum mesg mkdir mkfifo mknod mktemp more mv nice nl nm
    nohup nproc numfmt objdump od passwd paste patch pathchk pgrep pr printenv printf pstree
    ptx pwdx readlink realpath renice rev rm rmdir scp script sed seq setsid sha1sum sha256sum
    shred shuf sleep slabtop sort split sqlite3 stat strings stty su sum sync tac tail tar
    taskset tee test timeout tload touch tr truncate tsort tty uname unexpand uniq unlink
    uptime w wall watch wc whatis whereis which who whoami write xargs xxd yes zgrep
    """.split()
)

_SECTION_HEADING = re.compile(r"^[A-Z][A-Z0-9 ,/&()-]*$")
_SUBHEADING = re.compile(r"^ {3}\S.*$")


def render(name: str) -> str | None:
    """The page as plain text, or None when it is not installed."""
    man, groff = shutil.which("man"), shutil.which("groff")
    if man is None or groff is None:
        raise SystemExit("make_external_eval: needs the 'man' and 'groff' commands")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    where = subprocess.run(
        [man, "-w", SECTION, name], env=env, capture_output=True, text=True, check=False
    )
    if where.returncode != 0 or not where.stdout.strip():
        return None
    path = Path(where.stdout.strip())
    source = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    # groff itself, not man: man-db drops MANROFFOPT, and -rHY=0 (no hyphenation) keeps
    # words whole for the tokenizer. -k preconv, -t tables, -P-cbou plain characters.
    page = subprocess.run(
        [groff, "-Tutf8", "-man", "-k", "-t", f"-rLL={WIDTH}n", "-rHY=0", "-P-cbou"],
        input=source,
        env=env,
        cwd=path.parent.parent,  # where a ".so man1/other.1" include resolves
        capture_output=True,
        check=False,
    )
    text = page.stdout.decode("utf-8", errors="replace")
    if page.returncode != 0 or not text.strip():
        return None
    return text


def to_markdown(name: str, text: str) -> str:
    """Man's layout to Markdown: sections become headings, justification spaces go."""
    # Pages that turn hyphenation back on (.hy) still break words at line ends: rejoin them.
    lines = re.sub(r"(?<=[a-z])\u2010\n[ \t]*(?=[a-z])", "", text).splitlines()
    # The first and last non-blank lines are the page header and footer (name, version).
    body = [line for line in lines if line.strip()]
    header, footer = (body[0], body[-1]) if len(body) > 1 else ("", "")
    out = [f"# {name}({SECTION})", ""]
    for line in lines:
        if line in (header, footer) and line.strip():
            continue
        if not line.strip():
            if out[-1] != "":
                out.append("")
            continue
        if _SECTION_HEADING.match(line):
            out += ["", f"## {line.strip().title()}", ""]
        elif _SUBHEADING.match(line) and not line.strip().startswith("-"):
            out += ["", f"### {line.strip()}", ""]
        else:
            out.append(" ".join(line.split()))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the pages into (created)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written = skipped = size = 0
    for name in PAGES:
        text = render(name)
        if text is None:
            skipped += 1
            print(f"make_external_eval: {name}({SECTION}) not installed, skipped", file=sys.stderr)
            continue
        data = to_markdown(name, text).encode("utf-8")
        (out / f"{name}.{SECTION}.md").write_bytes(data)
        written += 1
        size += len(data)
    print(json.dumps({"pages": written, "skipped": skipped, "bytes": size, "out": str(out)}))
    return 0 if written else 1


if __name__ == "__main__":
    raise SystemExit(main())
