"""Key rotation end to end on both backends: re-encrypt, resume, retire, and never overwrite
what cannot be read."""

from __future__ import annotations

import pytest

from core.context import AppContext
from core.errors import KeyInUse, UnknownKey
from core.security import KeyRing
from tests.core.security_support import add_key, corrupt_message, ring_of, stored_tokens


def seed(context: AppContext, sessions: int = 3, messages: int = 5) -> dict[str, list[str]]:
    written: dict[str, list[str]] = {}
    for s in range(sessions):
        sid = context.sessions.create(f"u{s}", "c1", "g1")
        contents = [f"message {s}-{i}" for i in range(messages)]
        context.sessions.append_many(sid, [("user", c) for c in contents])
        context.sessions.close(sid, f"summary {s}")
        written[sid] = contents
    return written


def all_decrypt_under(context: AppContext, ring: KeyRing, written: dict[str, list[str]]) -> None:
    repo = context.sessions._repo
    for sid, contents in written.items():
        stored = repo.messages(sid)
        assert [ring.decrypt(m.token, m.key_id).decode() for m in stored] == contents
        token, key_id = repo.summary(sid)
        assert ring.decrypt(token, key_id).decode().startswith("summary ")


@pytest.mark.slow
def test_rotation_moves_everything_to_the_new_key_and_only_then_allows_retiring_the_old(
    context: AppContext,
) -> None:
    key_a = add_key(context)
    written = seed(context)
    key_b = add_key(context)
    assert context.keys.ring().ids == (key_b.id, key_a.id)
    with pytest.raises(KeyInUse, match="18 record"):
        context.keys.retire(key_a.id)

    preview = context.keys.rotate(dry_run=True)
    assert (preview.to_rotate, preview.would_rotate, preview.rotated) == (18, 18, 0)
    assert context.keys.counts() == {key_a.id: 18}  # a dry run changes nothing

    seen: list[tuple[int, int]] = []
    report = context.keys.rotate(batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert (report.rotated, report.unknown_key, report.undecryptable) == (18, 0, 0)
    assert seen[0] == (0, 18) and seen[-1] == (18, 18) and len(seen) > 4
    assert context.keys.counts() == {key_b.id: 18}
    all_decrypt_under(context, ring_of(key_b), written)

    retired = context.keys.retire(key_a.id)
    assert retired.remaining == (key_b.id,)
    assert context.keys.ring().ids == (key_b.id,)
    assert [(s.id, s.primary, s.records) for s in context.keys.status()] == [(key_b.id, True, 18)]
    assert context.sessions.transcript(next(iter(written))).messages[0].content == "message 0-0"


def test_an_interrupted_rotation_resumes_and_touches_nothing_twice(context: AppContext) -> None:
    add_key(context)
    written = seed(context, sessions=2, messages=10)
    key_b = add_key(context)

    class Stop(Exception):
        pass

    def stop_after_first_batch(done: int, total: int) -> None:
        if done >= 5:
            raise Stop

    with pytest.raises(Stop):
        context.keys.rotate(batch_size=5, progress=stop_after_first_batch)
    assert context.keys.counts()[key_b.id] == 5
    report = context.keys.rotate(batch_size=5)
    assert report.to_rotate == 17 and report.rotated == 17
    assert context.keys.rotate().to_rotate == 0
    all_decrypt_under(context, ring_of(key_b), written)


def test_rotation_leaves_tampered_and_foreign_key_records_as_they_are(
    context: AppContext,
) -> None:
    key_a = add_key(context)
    sid = context.sessions.create("u1", "c1", "g1")
    context.sessions.append_many(sid, [("user", "one"), ("assistant", "two")])
    key_c = add_key(context)
    context.sessions.append(sid, "user", "three under a key that will be lost")
    context.keys.source.write_file([key_a])  # key C leaves the ring
    context.sessions.append(sid, "assistant", "four")
    corrupt_message(context, sid, 2)
    before = stored_tokens(context, sid)

    transcript = context.sessions.transcript(sid)
    assert [m.content for m in transcript.messages] == ["one", None, None, "four"]
    assert transcript.undecryptable == [2, 3]
    assert "does not verify" in transcript.messages[1].error
    assert f"key {key_c.id} is not in the key ring" == transcript.messages[2].error
    assert stored_tokens(context, sid) == before

    key_b = add_key(context)
    report = context.keys.rotate(batch_size=1)
    assert (report.rotated, report.unknown_key, report.undecryptable) == (2, 1, 1)
    [failure] = report.failures  # names the record (never its content)
    assert failure.startswith("session_messages.content:") and sid in failure
    after = {seq: (key_id, token) for seq, key_id, token in stored_tokens(context, sid)}
    assert after[2] == (before[1][1], before[1][2])  # the tampered one is untouched
    assert after[3] == (key_c.id, before[2][2])  # so is the one under the lost key
    assert after[1][0] == after[4][0] == key_b.id
    status = {s.id: (s.in_ring, s.records) for s in context.keys.status()}
    assert status[key_c.id] == (False, 1)
    with pytest.raises(KeyInUse):
        context.keys.retire(key_a.id)  # the tampered record still names key A


def test_retiring_an_unknown_key_or_the_primary_is_refused(context: AppContext) -> None:
    key_a = add_key(context)
    add_key(context)
    with pytest.raises(UnknownKey):
        context.keys.retire("nope1234")
    context.keys.retire(key_a.id)  # no records: fine
    primary = context.keys.ring().primary_id
    with pytest.raises(KeyInUse, match="primary"):
        context.keys.retire(primary)
    assert context.keys.ring().ids == (primary,)
