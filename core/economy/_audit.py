"""The audit's arithmetic, shared by both backends: feed it rows, get the report.

Per scope: the balances add up to minted minus burned; no balance is negative; every applied
movement has its ledger entries (both sides of a transfer, one for a mint or a burn) and no
other movement has any; each account's ledger entries add up to its balance; nothing is left
pending. Sums are Python ints, exact whatever their size.
"""

from __future__ import annotations

from collections import defaultdict

from core.economy.repository import AuditReport, ScopeAudit
from core.scope import Scope

_SIDES = {"transfer": {"debit", "credit"}, "mint": {"credit"}, "burn": {"debit"}}
_MAX_LISTED = 50  # problems listed one by one; the rest are counted


class Books:
    def __init__(self) -> None:
        self._accounts: dict[str, int] = defaultdict(int)
        self._total: dict[str, int] = defaultdict(int)
        self._minted: dict[str, int] = defaultdict(int)
        self._burned: dict[str, int] = defaultdict(int)
        self._done: dict[str, int] = defaultdict(int)
        self._balances: dict[tuple[str, str], int] = {}
        self._ledger_sum: dict[tuple[str, str], int] = defaultdict(int)
        self._expected: dict[str, tuple[str, set[str]]] = {}
        self._seen: dict[str, set[str]] = defaultdict(set)
        self._problems: list[tuple[str, str]] = []

    def _problem(self, scope: str, text: str) -> None:
        self._problems.append((scope, text))

    def account(self, scope: str, user_id: str, balance: int) -> None:
        self._accounts[scope] += 1
        self._total[scope] += balance
        self._balances[(scope, user_id)] = balance
        if balance < 0:
            self._problem(scope, f"account {user_id} in {_name(scope)} is negative ({balance})")

    def transfer(self, scope: str, transfer_id: str, kind: str, amount: int, status: str) -> None:
        self._total.setdefault(scope, 0)
        if status == "pending":
            self._problem(
                scope, f"movement {transfer_id} in {_name(scope)} is pending: run abby bank recover"
            )
        if status != "done":
            self._expected[transfer_id] = (scope, set())
            return
        self._done[scope] += 1
        if kind == "mint":
            self._minted[scope] += amount
        elif kind == "burn":
            self._burned[scope] += amount
        self._expected[transfer_id] = (scope, _SIDES[kind])

    def ledger(self, scope: str, transfer_id: str, side: str, user_id: str, amount: int) -> None:
        self._seen[transfer_id].add(side)
        self._ledger_sum[(scope, user_id)] += amount

    def report(self) -> AuditReport:
        for transfer_id, (scope, sides) in self._expected.items():
            seen = self._seen.get(transfer_id, set())
            if seen != sides:
                missing = ", ".join(sorted(sides - seen)) or "-"
                extra = ", ".join(sorted(seen - sides)) or "-"
                self._problem(
                    scope,
                    f"movement {transfer_id} has an incomplete ledger "
                    f"(missing: {missing}; unexpected: {extra})",
                )
        for transfer_id in self._seen.keys() - self._expected.keys():
            self._problem("", f"ledger entries for unknown movement {transfer_id}")
        for key in self._balances.keys() | self._ledger_sum.keys():
            balance, summed = self._balances.get(key, 0), self._ledger_sum.get(key, 0)
            if balance != summed:
                self._problem(
                    key[0],
                    f"account {key[1]} in {_name(key[0])} holds {balance} "
                    f"but its ledger adds up to {summed}",
                )
        scopes = []
        for scope in sorted(self._total.keys() | self._accounts.keys()):
            expected = self._minted[scope] - self._burned[scope]
            if self._total[scope] != expected:
                self._problem(
                    scope,
                    f"{_name(scope)}: balances add up to {self._total[scope]} but minted "
                    f"minus burned is {expected}",
                )
            scopes.append(
                ScopeAudit(
                    guild_id=Scope.from_key(scope).guild_id,
                    accounts=self._accounts[scope],
                    total_balance=self._total[scope],
                    minted=self._minted[scope],
                    burned=self._burned[scope],
                    transfers=self._done[scope],
                    ok=not any(s == scope for s, _ in self._problems),
                )
            )
        problems = [text for _, text in self._problems]
        if len(problems) > _MAX_LISTED:
            problems = problems[:_MAX_LISTED] + [f"... and {len(problems) - _MAX_LISTED} more"]
        return AuditReport(ok=not self._problems, scopes=tuple(scopes), problems=tuple(problems))


def _name(scope: str) -> str:
    return Scope.from_key(scope).display
