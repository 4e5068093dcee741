"""The stream relay's pacing and order, on a fake clock (the real bot: test_chat_e2e.py)."""

from __future__ import annotations

import asyncio

from bot.streaming import CURSOR, StreamRelay, sources_line


class Message:
    def __init__(self, log: list[tuple[float, str, str]], clock: list[float], name: str) -> None:
        self.log, self.clock, self.name = log, clock, name

    async def edit(self, *, content: str, allowed_mentions: object) -> None:
        assert allowed_mentions.to_dict() == {"parse": []}
        self.log.append((self.clock[0], self.name, content))


def _relay(log: list, clock: list[float]) -> StreamRelay:
    count = iter(range(100))

    async def post(content: str) -> Message:
        name = f"m{next(count)}"
        log.append((clock[0], name, content))
        return Message(log, clock, name)

    return StreamRelay(post, post, clock=lambda: clock[0])


def test_the_first_token_shows_at_once_then_edits_wait_a_second() -> None:
    log: list[tuple[float, str, str]] = []
    clock = [0.0]
    relay = _relay(log, clock)

    async def run() -> None:
        for n in range(30):  # a token every 0.1 s
            clock[0] = n * 0.1
            await relay.feed(f"w{n} ")
        clock[0] = 3.0
        await relay.finish("all done @everyone")

    asyncio.run(run())
    assert log[0] == (0.0, "m0", "w0" + CURSOR)
    times = [t for t, _, _ in log]
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(times, times[1:], strict=False)), times
    assert {name for _, name, _ in log} == {"m0"}  # one message, edited
    assert log[-1][2] == "all done @\u200beveryone"  # defused


def test_a_long_answer_continues_in_new_messages_in_order() -> None:
    log: list[tuple[float, str, str]] = []
    clock = [0.0]
    relay = _relay(log, clock)
    text = " ".join(f"Sentence {n} is here." for n in range(600))

    async def run() -> None:
        await relay.finish(text + "\n\n" + sources_line(["Guide [x](http://evil)"]))

    asyncio.run(run())
    names = [name for _, name, _ in log]
    assert names == sorted(set(names), key=names.index) and len(names) >= 5
    shown = " ".join(content for _, _, content in log)
    assert shown.split()[:-4] == text.split()
    assert log[-1][2].endswith("Sources: Guide \\[x](http://evil)")  # no markdown link


def test_a_lead_shows_above_the_first_token_and_the_final_text_replaces_it() -> None:
    log: list[tuple[float, str, str]] = []
    clock = [0.0]
    relay = _relay(log, clock)

    async def run() -> None:
        relay.lead("Hello Sam @everyone")
        await relay.feed("   ")  # nothing to show yet: no message with the greeting alone
        assert log == []
        await relay.feed("w0 ")
        clock[0] = 2.0
        await relay.finish("Hello Sam\n\nw0 w1")

    asyncio.run(run())
    assert log[0] == (0.0, "m0", "Hello Sam @\u200beveryone\n\nw0" + CURSOR)
    assert log[-1] == (2.0, "m0", "Hello Sam\n\nw0 w1")
