"""Extract a PDF's text in a child process, under hard memory and CPU limits.

pypdf runs on hostile input here: a flate bomb, a page whose content stream takes minutes to
parse, a recursion that never ends. A thread cannot be stopped and a signal cannot reach the
bot's worker threads, so `loaders` runs this file as its own process (by path, with `-I`, so
it imports nothing of Abby) and kills it when the time budget runs out. The process sets its
own address-space and CPU limits before it touches the bytes.

Protocol: argv[1] is a JSON object of limits; stdin is the PDF; stdout is one JSON object,
{"title": str, "pages": [str, ...]} or {"skip": "reason"}.
"""

from __future__ import annotations

import io
import json
import resource
import sys
from typing import Any

# What the interpreter and pypdf need beyond the decompressed streams themselves.
_BASE_MEMORY = 512 * 1024 * 1024


def _limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, hard))


def extract(data: bytes, *, max_pages: int, max_decompressed: int) -> dict[str, Any]:
    """Title and per-page text of a PDF, or {"skip": reason} when a budget is exceeded."""
    import pypdf
    from pypdf import PdfReader

    caps = {
        name: max_decompressed
        for name in (
            "zlib_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "brotli_maximum_output_length",
            "array_based_stream_maximum_output_length",
            "maximum_declared_stream_length",
        )
    }
    apply = getattr(pypdf, "apply_configuration", None)
    if apply is None:  # pypdf before 7: the module constants are the only knob
        import pypdf.filters as filters

        filters.ZLIB_MAX_OUTPUT_LENGTH = max_decompressed
        from contextlib import nullcontext

        configured: Any = nullcontext()
    else:
        configured = apply(jbig2dec_binary=None, **caps)
    with configured:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return {"skip": "encrypted PDF (needs a password)"}
        count = len(reader.pages)
        if count > max_pages:
            return {
                "skip": f"PDF has {count:,} pages; the limit is {max_pages:,} (rag.max_pdf_pages)"
            }
        pages: list[str] = []
        decompressed = 0
        for page in reader.pages:
            contents = page.get_contents()
            # Counted across pages: each stream is capped by pypdf, the whole file here.
            decompressed += len(contents.get_data()) if contents is not None else 0
            if decompressed > max_decompressed:
                return {
                    "skip": f"PDF content decompresses to over {max_decompressed:,} bytes "
                    "(rag.max_pdf_decompressed_bytes); a compression bomb?"
                }
            pages.append((page.extract_text() or "").strip())
        title = reader.metadata.title if reader.metadata else None
    return {"title": str(title or ""), "pages": pages}


def main() -> None:
    limits = json.loads(sys.argv[1])
    _limit(resource.RLIMIT_AS, _BASE_MEMORY + 4 * int(limits["max_decompressed"]))
    _limit(resource.RLIMIT_CPU, max(1, int(limits["cpu_seconds"]) + 1))
    data = sys.stdin.buffer.read()
    try:
        result = extract(
            data,
            max_pages=int(limits["max_pages"]),
            max_decompressed=int(limits["max_decompressed"]),
        )
    except MemoryError:
        result = {"skip": "PDF needs more memory than its budget to read; a compression bomb?"}
    except RecursionError:
        result = {"skip": "unreadable PDF (objects nested too deeply)"}
    except Exception as exc:  # noqa: BLE001 - a sandbox: any parser failure is this file's skip
        name = type(exc).__name__
        if name == "LimitReachedError":
            result = {"skip": "PDF stream decompresses beyond its budget; a compression bomb?"}
        else:
            result = {"skip": f"unreadable PDF ({name})"}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
