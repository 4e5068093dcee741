"""Check that every CLI command body stays small: parse, call one core function, show.

    python scripts/cli_command_sizes.py          # exit 1 and the offenders, if any
    python scripts/cli_command_sizes.py --all    # also list every command's size

A command is a function in abby_cli/ that is registered with Typer: decorated with
`@<app>.command(...)` (any Typer object: `app`, `rewards`, ...), or passed to
`<app>.command(...)(<module>.<function>)` in abby_cli/main.py (init, doctor, ask, ...).

Its size is the number of statements of its body counted the way a reader reads it: every
top-level statement counts one, a compound statement (`if`, `with`, `for`, `try`) counts one
for itself plus the statements nested in it, recursively. Not counted: the docstring (it is
the --help text), imports (the CLI imports the core inside each command so that --help stays
fast), and the statements of a nested function or class (one statement; helpers are sized
by review). So

    if dry_run:
        output.show(preview)

is two statements. The limit is MAX_STATEMENTS (6); `session dump` is the one exception
the issue allows (it formats, writes a 0600 file and reports undecryptable messages).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "abby_cli"
MAX_STATEMENTS = 6
EXEMPT = {("session", "dump")}


def count(body: list[ast.stmt]) -> int:
    """Statements of `body`, nested ones included, nested functions and classes as one."""
    total = 0
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue  # lazy imports keep --help fast; they are not logic
        total += 1
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            total += count(getattr(node, name, []) or [])
        for handler in getattr(node, "handlers", []) or []:
            total += count(handler.body)
        for case in getattr(node, "cases", []) or []:
            total += count(case.body)
    return total


def body_size(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring: --help text, not code
    return count(body)


def _is_command_decorator(decorator: ast.expr) -> bool:
    call = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(call, ast.Attribute) and call.attr == "command"


def _registered_in_main(tree: ast.Module) -> set[tuple[str, str]]:
    """(module, function) pairs of `app.command("name")(module.function)` calls."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Call)
            and _is_command_decorator(node.func)
            and node.args
            and isinstance(node.args[0], ast.Attribute)
            and isinstance(node.args[0].value, ast.Name)
        ):
            found.add((node.args[0].value.id, node.args[0].attr))
    return found


def commands() -> list[tuple[str, str, int, int]]:
    """(module, function, line, size) of every command in abby_cli/."""
    trees = {path.stem: ast.parse(path.read_text(), str(path)) for path in CLI.glob("*.py")}
    registered = _registered_in_main(trees["main"]) if "main" in trees else set()
    found = []
    for module, tree in sorted(trees.items()):
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            decorated = any(_is_command_decorator(d) for d in node.decorator_list)
            if decorated or (module, node.name) in registered:
                found.append((module, node.name, node.lineno, body_size(node)))
    return found


def main(argv: list[str]) -> int:
    found = commands()
    offenders = [c for c in found if c[3] > MAX_STATEMENTS and (c[0], c[1]) not in EXEMPT]
    for module, name, line, size in found if "--all" in argv else offenders:
        mark = "  over" if size > MAX_STATEMENTS and (module, name) not in EXEMPT else ""
        print(f"abby_cli/{module}.py:{line}: {name} {size} statements{mark}")
    print(
        f"{len(found)} commands, {len(offenders)} over {MAX_STATEMENTS} statements"
        f" (exempt: {', '.join(' '.join(e) for e in sorted(EXEMPT))})"
    )
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
