"""`abby keys`: generate, inspect, rotate and retire the encryption keys.

Key material is printed only by `generate` without `--write` (that is its purpose); status,
rotation and retirement show key ids and counts, never keys.
"""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import DryRunOpt, JsonOpt, YesOpt

app = typer.Typer(help="Encryption keys: generate, status, rotate, retire.", no_args_is_help=True)


def actor() -> str:
    """Who runs this command, for governance events (the OS user)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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
    generated = runtime.context().keys.generate(write=write, actor=actor())
    if generated.written_to is None:
        # The one place a key is shown: the operator asked for it, on stdout only.
        typer.echo(generated.key.line)
        output.warn("this line is a secret: put it in the key file (mode 0600) or the env")
        return
    output.show({"id": generated.id, "primary": True, "key_file": generated.written_to})
    output.warn("new records use this key now; run `abby keys rotate` to re-encrypt older ones")


@app.command()
def status(json_out: JsonOpt = False) -> None:
    """Key ids (primary first) and how many records each still protects. Never key material."""
    ctx = runtime.context()
    rows = ctx.keys.status()
    if runtime.state.json:
        output.show(
            {
                "source": ctx.keys.source.description,
                "keys": [
                    {"id": r.id, "primary": r.primary, "records": r.records, "in_ring": r.in_ring}
                    for r in rows
                ],
            }
        )
        return
    output.show(
        [
            {
                "id": r.id,
                "primary": "yes" if r.primary else "",
                "records": r.records,
                "state": "in ring" if r.in_ring else "UNKNOWN (not in the ring)",
            }
            for r in rows
        ],
        title=f"Keys from {ctx.keys.source.description}",
        empty="No keys configured; create one with `abby keys generate --write`.",
    )
    if any(not r.in_ring for r in rows):
        output.warn("some records name a key that is not in the ring: they cannot be decrypted")


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
    if dry_run:
        output.message(
            f"dry run: would re-encrypt {report.would_rotate} record(s) under key {primary};"
            " nothing was changed"
        )
    if report.unknown_key or report.undecryptable:
        output.warn(
            f"{report.unknown_key} record(s) under keys not in the ring and "
            f"{report.undecryptable} that did not decrypt were left unchanged"
        )
        raise typer.Exit(4)


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
