"""Mark the slow tests `@pytest.mark.slow`, from a pytest durations report.

    pytest -q -p no:cacheprovider --durations=0 > durations.log
    python scripts/mark_slow.py durations.log --over 3

A test's time is its setup + call + teardown; a function is marked when any of its
parametrized cases is over the threshold, except cases whose only slow part is the MongoDB
variant (those are `slow` already through tests/conftest.py's BACKENDS). The decorator goes
above the function's other decorators; a function already marked is left alone. Prints what it
marked. Run it on an idle machine: the threshold is in seconds of that run.
"""

from __future__ import annotations

import argparse
import ast
import collections
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"\s*([\d.]+)s (?:setup|call|teardown)\s+(\S+)")


def durations(report: Path) -> dict[str, float]:
    totals: collections.Counter[str] = collections.Counter()
    for line in report.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _LINE.match(line)
        if match:
            totals[match.group(2)] += float(match.group(1))
    return dict(totals)


def _is_mongo_case(nodeid: str) -> bool:
    params = nodeid.rpartition("[")[2] if "[" in nodeid else ""
    return "mongo" in params.split("-")


def slow_functions(totals: dict[str, float], over: float) -> dict[Path, set[tuple[str, ...]]]:
    """{file: {(class?, function)}} of the tests to mark."""
    found: dict[Path, set[tuple[str, ...]]] = collections.defaultdict(set)
    for nodeid, seconds in totals.items():
        if seconds <= over or _is_mongo_case(nodeid):
            continue
        path, *names = nodeid.split("[")[0].split("::")
        found[ROOT / path].add(tuple(names))
    return found


def _already_marked(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any("mark.slow" in ast.unparse(d) for d in node.decorator_list)


def mark(path: Path, wanted: set[tuple[str, ...]]) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    inserts: list[tuple[int, str]] = []
    done = []

    def visit(body: list[ast.stmt], prefix: tuple[str, ...]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, (*prefix, node.name))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if (*prefix, node.name) in wanted and not _already_marked(node):
                    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                    indent = " " * node.col_offset
                    inserts.append((first - 1, f"{indent}@pytest.mark.slow\n"))
                    done.append("::".join((*prefix, node.name)))

    visit(tree.body, ())
    for index, text in sorted(inserts, reverse=True):
        lines.insert(index, text)
    if inserts:
        text = "".join(lines)
        if not re.search(r"^import pytest$", text, re.M):
            future = "from __future__ import annotations\n"
            text = text.replace(future, future + "\nimport pytest\n", 1)
        path.write_text(text, encoding="utf-8")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--over", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args()
    for path, wanted in sorted(slow_functions(durations(args.report), args.over).items()):
        for name in mark(path, wanted):
            print(f"marked {path.relative_to(ROOT)}::{name}")


if __name__ == "__main__":
    main()
