"""Level rewards, pending level marks and batched voice XP: the contract on both backends."""

from __future__ import annotations

import pytest

from core.context import AppContext
from core.economy.rewards import plan, render_announcement
from core.economy.voice import VoiceMember
from core.economy.xp import parse_setting
from core.errors import InvalidInput, UnknownReward

G = "700000000000000001"
ROLE5, ROLE10 = "710000000000000005", "710000000000000010"


def _rewarded(context: AppContext, *, remove_lower: bool = False) -> None:
    context.xp.rewards.add_reward(G, 5, ROLE5)
    context.xp.rewards.add_reward(G, 10, ROLE10)
    if remove_lower:
        context.xp.update_settings({"remove_lower_roles": True}, guild_id=G)


def test_rewards_are_stored_by_level_with_role_ids_and_removed_by_level(
    context: AppContext,
) -> None:
    _rewarded(context)
    assert context.xp.rewards.rewards(G).level_roles == ((5, ROLE5), (10, ROLE10))
    context.xp.rewards.remove_reward(G, 5)
    assert context.xp.rewards.rewards(G).level_roles == ((10, ROLE10),)
    with pytest.raises(UnknownReward):
        context.xp.rewards.remove_reward(G, 5)


@pytest.mark.parametrize("level,role", [(0, ROLE5), (10_001, ROLE5), (3, "@everyone"), (3, "")])
def test_bad_rewards_are_refused_and_nothing_is_stored(
    context: AppContext, level: int, role: str
) -> None:
    with pytest.raises(InvalidInput):
        context.xp.rewards.add_reward(G, level, role)
    assert context.xp.rewards.rewards(G).level_roles == ()


def test_a_level_up_by_admin_grant_leaves_one_pending_mark_until_cleared(
    context: AppContext,
) -> None:
    context.xp.add("42", 50, guild_id=G)  # still level 0: no mark
    assert context.xp.rewards.pending([G]) == []
    context.xp.add("42", 5_000, guild_id=G)
    (item,) = context.xp.rewards.pending([G])
    assert (item.user_id, item.guild_id, item.level) == ("42", G, 10)
    assert context.xp.rewards.done(item)
    assert context.xp.rewards.pending([G]) == []
    assert not context.xp.rewards.done(item)  # a second clear finds nothing


def test_a_newer_change_survives_clearing_the_mark_read_before_it(context: AppContext) -> None:
    context.xp.add("43", 200, guild_id=G)
    (old,) = context.xp.rewards.pending([G])
    context.xp.add("43", 5_000, guild_id=G)
    assert not context.xp.rewards.done(old)  # the mark was replaced meanwhile
    (new,) = context.xp.rewards.pending([G])
    assert new.level == 10


def test_marks_belong_to_their_guild_and_the_global_scope_has_none(context: AppContext) -> None:
    context.xp.add("44", 5_000, guild_id="700000000000000002")
    context.xp.add("44", 5_000)
    assert context.xp.rewards.pending([G]) == []
    assert [p.user_id for p in context.xp.rewards.pending(["700000000000000002"])] == ["44"]


def test_a_message_level_up_marks_the_member(context: AppContext) -> None:
    context.xp.add("45", 90, guild_id=G)
    context.xp.update_settings({"min_grant": 20, "max_grant": 20}, guild_id=G)
    change = context.xp.grant_message("45", guild_id=G, now=1_000.0)
    assert change is not None and change.leveled_up and change.announce
    assert [p.user_id for p in context.xp.rewards.pending([G])] == ["45"]


def test_an_import_marks_members_it_leaves_at_a_reward_level(context: AppContext) -> None:
    _rewarded(context)
    players = [{"id": "46", "xp": 5_000}, {"id": "47", "xp": 10}]
    context.xp.import_mee6({"players": players}, guild_id=G)
    assert [p.user_id for p in context.xp.rewards.pending([G])] == ["46"]


def test_role_plans_add_reached_rewards_and_take_the_rest(context: AppContext) -> None:
    _rewarded(context)
    rules = context.xp.rewards.rewards(G)
    assert plan(rules, 12, ()).add == (ROLE5, ROLE10)
    assert plan(rules, 12, (ROLE5, ROLE10)).empty  # applying twice changes nothing
    lowered = plan(rules, 6, (ROLE5, ROLE10, "999"))
    assert (lowered.add, lowered.remove) == ((), (ROLE10,))
    _rewarded(context, remove_lower=True)
    only_top = plan(context.xp.rewards.rewards(G), 12, (ROLE5,))
    assert (only_top.add, only_top.remove) == ((ROLE10,), (ROLE5,))


def test_a_refused_role_is_blocked_once_and_skipped_until_set_again(context: AppContext) -> None:
    _rewarded(context)
    assert context.xp.rewards.block(G, ROLE10, reason="403 Missing Permissions")
    assert not context.xp.rewards.block(G, ROLE10, reason="403 Missing Permissions")
    rules = context.xp.rewards.rewards(G)
    assert rules.blocked_roles == (ROLE10,)
    assert plan(rules, 12, ()).add == (ROLE5,)
    context.xp.rewards.add_reward(G, 10, ROLE10)
    assert context.xp.rewards.rewards(G).blocked_roles == ()


@pytest.mark.parametrize(
    "template,message",
    [
        ("{member} hit {lvl}", "unknown placeholder {lvl}"),
        ("{member.__class__} {level}", "unknown placeholder"),
        ("{level:>99999} {member}", "without a format"),
        ("{member!r} {level}", "without a format"),
        ("{member", "not a valid template"),
        ("x" * 301, "at most 300"),
    ],
)
def test_bad_announcement_templates_are_refused_with_one_line(
    context: AppContext, template: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        context.xp.update_settings(
            {"announce_template": parse_setting("announce_template", template)}, guild_id=G
        )
    assert context.xp.settings_for(G).announce_template == "🎉 {member} reached level {level}!"


def test_the_template_text_itself_can_never_ping() -> None:
    text = render_announcement(
        "@everyone <@&123> <@99> {member} is level {level} @here",
        member_mention="<@42>",
        level=1_000,
    )
    assert "@everyone" not in text and "@here" not in text and "<@&" not in text
    assert "<@99>" not in text and "<@42>" in text and "1,000" in text


def test_announce_channel_and_voice_rate_are_per_guild_settings(context: AppContext) -> None:
    context.xp.update_settings(
        {
            "announce_channel": parse_setting("announce_channel", "810000000000000003"),
            "voice_xp_per_minute": parse_setting("voice_xp_per_minute", "7"),
        },
        guild_id=G,
    )
    rules = context.xp.settings_for(G)
    assert (rules.announce_channel, rules.voice_xp_per_minute) == ("810000000000000003", 7)
    assert context.xp.settings_for("700000000000000009").announce_channel is None


def test_voice_xp_pays_only_eligible_members_in_one_batch(context: AppContext) -> None:
    context.xp.update_settings({"voice_xp_per_minute": 30}, guild_id=G)
    members = [
        VoiceMember("1", "c1"),
        VoiceMember("2", "c1"),
        VoiceMember("3", "c1", self_mute=True),
        VoiceMember("4", "c1", deaf=True),
        VoiceMember("5", "c2"),  # alone (with a bot)
        VoiceMember("6", "c2", bot=True),
        VoiceMember("7", "afk"),
        VoiceMember("8", "afk"),
    ]
    changes = context.xp.grant_voice(G, members, afk_channel_id="afk")
    assert sorted(c.user_id for c in changes) == ["1", "2"]
    paid = {u: context.xp.get(u, guild_id=G).xp for u in "12345678"}
    assert paid == {"1": 30, "2": 30, "3": 0, "4": 0, "5": 0, "6": 0, "7": 0, "8": 0}


def test_voice_level_ups_are_announced_and_marked(context: AppContext) -> None:
    context.xp.update_settings({"voice_xp_per_minute": 60}, guild_id=G)
    context.xp.add("11", 50, guild_id=G)
    changes = context.xp.grant_voice(G, [VoiceMember("11", "c"), VoiceMember("12", "c")])
    up = {c.user_id: (c.previous_xp, c.xp, c.leveled_up, c.announce) for c in changes}
    assert up == {"11": (50, 110, True, True), "12": (0, 60, False, False)}
    assert [p.user_id for p in context.xp.rewards.pending([G])] == ["11"]


def test_forgetting_a_member_drops_their_pending_mark(context: AppContext) -> None:
    context.xp.add("48", 5_000, guild_id=G)
    context.xp._repo.erase_member("48", G)
    assert context.xp.rewards.pending([G]) == []
