"""`abby keys`: generate, inspect, rotate and retire the encryption keys.

Key material is printed only by `generate` without `--write` (that is its purpose); status,
rotation and retirement show key ids and counts, never keys.
"""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import DryRunOpt, JsonOpt, YesOpt, actor

app = typer.Typer(help="Encryption keys: generate, status, rotate, retire.", no_args_is_help=True)


@app.command()
def generate(
    write: Annotated[
        bool,
        typer.Option(
            "--write", help="Add the key to the key file as the new primary (file mode 0600)."
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Make a new Fernet key. Without --write, print its key-file line (id:key) to stdout."""
    from core.errors import InvalidInput

    if json_out and not write:
        raise InvalidInput(
            "--json never carries key material: use --write, or drop --json to print the key"
        )
    output.show(runtime.context().keys.generate(write=write, actor=actor()))


@app.command()
def status(json_out: JsonOpt = False) -> None:
    """Key ids (primary first) and how many records each still protects. Never key material."""
    from abby_cli import render

    keys = runtime.context().keys
    output.show(render.KeyState(keys.source.description, keys.status()))


@app.command()
def rotate(
    dry_run: DryRunOpt = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=100_000, help="Records re-encrypted per write."),
    ] = 1000,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Re-encrypt every encrypted field under the primary key, in batches.

    Resumable: after a crash or Ctrl-C, run it again; it finishes the rest and touches
    nothing twice. Records under a key no longer in the ring, or that fail to decrypt, are
    left as they are and counted (exit 4 when there are any).
    """
    keys = runtime.context().keys
    primary = keys.ring().primary_id
    output.confirm(f"re-encrypt every record not under key {primary}", yes=yes, dry_run=dry_run)
    with output.progress("counting" if dry_run else "re-encrypting", unit="messages") as meter:
        report = keys.rotate(batch_size=batch_size, dry_run=dry_run, progress=meter, actor=actor())
    output.show(report)


@app.command()
def retire(
    key_id: str, dry_run: DryRunOpt = False, yes: YesOpt = False, json_out: JsonOpt = False
) -> None:
    """Remove KEY_ID from the key file; refused (exit 4) while any record still uses it.

    --dry-run makes the same checks (and is refused the same way) but keeps the key.
    """
    keys = runtime.context().keys
    output.confirm(f"remove key {key_id} from {keys.source.description}", yes=yes, dry_run=dry_run)
    output.show(keys.retire(key_id, actor=actor(), dry_run=dry_run))
