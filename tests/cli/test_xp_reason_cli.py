"""`abby xp add --reason`: the reason is kept (a governance event), on both backends."""

from __future__ import annotations

from core.config import load_settings
from core.telemetry.events import EventLog


def test_xp_add_keeps_its_reason_and_says_an_operator_did_it(cli, backend_env) -> None:  # noqa: ANN001
    result = cli("xp", "add", "7", "50", "--guild", "99", "--reason", "event winner", "--json")
    assert result.exit_code == 0, result.output
    assert result.json()["xp"] == 50
    events = EventLog.from_settings(load_settings()).tail(5, event_type="governance.xp_add")
    assert [e["payload"] for e in events] == [
        {
            "guild_id": "99",
            "user_id": "7",
            "amount": 50,
            "xp": 50,
            "reason": "event winner",
            "actor_id": None,
        }
    ]


def test_a_refused_reason_changes_nothing(cli, backend_env) -> None:  # noqa: ANN001
    result = cli("xp", "add", "7", "50", "--guild", "99", "--reason", "x" * 201)
    assert result.exit_code == 2, result.output
    assert cli("xp", "get", "7", "--guild", "99", "--json").json()["xp"] == 0
