"""`abby bank`: balances, minting, transfers, history, the daily reward, the leaderboard, the
audit and recovery."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import options, output, runtime
from abby_cli.options import MAX_SECONDS, DryRunOpt, GuildOpt, JsonOpt, LimitOpt
from abby_cli.xp import parse_amount

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
    movement = runtime.context().bank.add(
        user_id, parse_amount(amount), reason=reason, guild_id=guild, idempotency_key=key
    )
    output.show(movement)


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
    output.show(
        movement,
        columns=["transfer_id", "from_user", "to_user", "amount", "status", "replayed"],
    )


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
    output.show(
        entries,
        columns=["at", "transfer_id", "amount", "balance_after", "counterparty", "reason"],
        empty="No movements on this account.",
    )


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
    context = runtime.context()
    rows = context.bank.leaderboard(guild, limit=limit, offset=offset)
    names = context.users.names([row.user_id for row in rows], guild_id=guild)
    output.show(
        [{**output.to_jsonable(row), "name": names.get(row.user_id)} for row in rows],
        columns=["rank", "user_id", "name", "balance"],
        empty="No balances in this scope yet.",
    )


@app.command()
def audit(
    guild: Annotated[
        str | None, typer.Option("--guild", "-g", help="Audit one guild (default: every scope).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Prove the books: balances = minted - burned, none negative, every ledger pair
    complete. Exit 4 when a check fails."""
    bank = runtime.context().bank
    report = bank.audit(options.scope_option(guild, every=True))
    if runtime.state.json:
        output.show(report)
    else:
        output.show(
            report.scopes,
            columns=[
                "guild_id",
                "accounts",
                "total_balance",
                "minted",
                "burned",
                "transfers",
                "ok",
            ],
            empty="No accounts yet.",
        )
        output.lines(f"problem: {p}" for p in report.problems)
        output.message("audit ok" if report.ok else "audit FAILED")
    if not report.ok:
        raise typer.Exit(4)


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
    if dry_run:
        report = context.bank_as_found.recover(older_than_seconds=older_than, dry_run=True)
        output.show(report, title="Recovery (dry run)")
        return
    output.show(context.bank.recover(older_than_seconds=older_than))
