"""`abby bank`: balances, minting, transfers, history, the daily reward, the leaderboard, the
audit and recovery."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import options, output, runtime
from abby_cli.options import MAX_SECONDS, DryRunOpt, GuildOpt, JsonOpt, LimitOpt, parse_amount

app = typer.Typer(help="The bank: balances, transfers, ledger, audit.", no_args_is_help=True)

# Let "-5" reach AMOUNT (and get a clear error, or mean a burn for `add`).
_AMOUNT_CMD = {"ignore_unknown_options": True}
ReasonOpt = Annotated[str | None, typer.Option("--reason", "-r", help="Recorded in the ledger.")]
OffsetOpt = Annotated[
    int, typer.Option("--offset", min=0, max=1_000_000, help="Rows to skip (the next page).")
]


@app.command()
def balance(user_id: str, guild: GuildOpt = None, json_out: JsonOpt = False) -> None:
    """Show USER_ID's balance (0 when the account does not exist yet)."""
    output.show(runtime.context().bank.balance(user_id, guild_id=guild))


@app.command(context_settings=_AMOUNT_CMD)
def add(
    user_id: str,
    amount: Annotated[str, typer.Argument(help="Positive mints, negative burns.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Recorded in the ledger.")],
    guild: GuildOpt = None,
    key: Annotated[str | None, typer.Option("--key", help="Idempotency key.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Mint (or, negative, burn) currency on an account; a burn never goes below zero."""
    bank = runtime.context().bank
    output.show(
        bank.add(user_id, parse_amount(amount), reason=reason, guild_id=guild, idempotency_key=key)
    )


@app.command(context_settings=_AMOUNT_CMD)
def transfer(
    from_user: str,
    to_user: str,
    amount: Annotated[str, typer.Argument(help="A positive whole number.")],
    guild: GuildOpt = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Idempotency key: a retry with the same key applies once."),
    ] = None,
    reason: ReasonOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Move AMOUNT from FROM_USER to TO_USER, once even if retried (exit 4: insufficient)."""
    movement = runtime.context().bank.transfer(
        from_user,
        to_user,
        parse_amount(amount, positive=True),
        guild_id=guild,
        idempotency_key=key,
        reason=reason,
    )
    output.show(movement)


@app.command()
def history(
    user_id: str,
    guild: GuildOpt = None,
    limit: LimitOpt = 20,
    offset: OffsetOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """USER_ID's ledger, newest first (negative amounts left the account)."""
    entries = runtime.context().bank.history(user_id, guild_id=guild, limit=limit, offset=offset)
    output.show(entries, kind="list[LedgerEntry]")


@app.command()
def daily(user_id: str, guild: GuildOpt = None, json_out: JsonOpt = False) -> None:
    """Pay USER_ID today's daily reward (bank.daily_amount), once per UTC day per guild
    (exit 4 when already claimed today: the same claim as the bot's /daily)."""
    output.show(runtime.context().bank.daily(user_id, guild_id=guild))


@app.command()
def top(
    guild: GuildOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100, help="Rows.")] = 10,
    offset: OffsetOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """The balance leaderboard of a guild (accounts holding more than 0; ties by user id)."""
    from abby_cli import render

    context = runtime.context()
    rows = context.bank.leaderboard(guild, limit=limit, offset=offset)
    names = context.users.names([row.user_id for row in rows], guild_id=guild)
    output.show(render.BankRanking(rows, names))


@app.command()
def audit(
    guild: Annotated[
        str | None, typer.Option("--guild", "-g", help="Audit one guild (default: every scope).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Prove the books: balances = minted - burned, none negative, every ledger pair
    complete. Exit 4 when a check fails."""
    output.show(runtime.context().bank.audit(options.scope_option(guild, every=True)))


@app.command()
def recover(
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            min=0,
            max=MAX_SECONDS,
            help="Seconds a movement must have been pending (default: bank.recover_grace_seconds).",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Finish or undo movements a dead process left half-done (MongoDB; a no-op on SQLite).

    --dry-run lists each movement with what a recovery would do to it, and changes nothing
    (not even the recovery that opening the bank runs)."""
    context = runtime.context()
    # A dry run must not run the recovery that opening the bank does: the bank as found.
    bank = context.bank_as_found if dry_run else context.bank
    output.show(bank.recover(older_than_seconds=older_than, dry_run=dry_run))
