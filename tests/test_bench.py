"""The benchmark's own parts: its table, and the stand-ins in the mode it runs them in."""

from __future__ import annotations

import io
import json
import re

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bench.results import Result, print_table, ratio
from tests.drivers.connector import Connector
from tests.drivers.slack_api import SlackApi


def test_the_table_lines_up_its_columns_whatever_the_names() -> None:
    fast = Result("engine turn", 3, 1.0, [1.0, 2.0, 3.0], {"bytes_per_conversation": 276})
    slow = Result("a much longer name than the others", 3, 2.0, [10.0, 20.0, 30.0])
    startup = {"name": "start-up to /readyz", "turns": 1, "turns_per_s": "", "p50_ms": 690}
    rows = [fast.row(), slow.row(), {**startup, "p99_ms": ""}]
    out = io.StringIO()
    print_table(rows, {"engine turn / floor": ratio(fast, slow), "x / y": ratio(slow, fast)}, out)
    lines = out.getvalue().splitlines()
    header, rule, *table = lines[: 2 + len(rows) + 1]
    table = [line for line in table if not line.startswith("    ")]  # a row's other figures
    assert set(rule) == {"-", " "} and len(rule) == len(header)
    # Names start each line; every figure ends under the end of its heading.
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
    for line in (header, *table[:2]):
        cells = [line[a:b] for a, b in spans]
        assert cells[0][0] != " " and all(c[-1] != " " for c in cells[1:]), line
        assert all(not line[b : b + 2].strip() for _, b in spans), line
    assert table[0].startswith("engine turn ") and table[1].startswith("a much longer name ")
    ratios = [line for line in lines if line.startswith("ratio ")]
    assert len(ratios) == 2 and len({line.index(" p50 ") for line in ratios}) == 1


def test_rounds_merge_into_one_measure_with_every_latency_and_failure() -> None:
    """Alternated rounds are reported as one measure: nothing dropped, counts summed, the
    per-turn figures weighted by each round's turns."""
    one = Result("x", 2, 1.0, [1.0, 2.0], {"users": 5, "errors": 1, "cpu_ms_per_turn": 1.0})
    two = Result("x", 6, 2.0, [3.0] * 6, {"users": 5, "errors": 0, "cpu_ms_per_turn": 2.0})
    both = Result.merged([one, two])
    assert (both.turns, both.seconds, sorted(both.latencies_ms)) == (8, 3.0, [1.0, 2.0] + [3.0] * 6)
    assert both.extra == {"rounds": 2, "users": 5, "errors": 1, "cpu_ms_per_turn": 1.75}


async def test_the_bench_awaits_a_posted_message_and_keeps_only_counts() -> None:
    async with SlackApi(token=None, team="T1", record=False) as api:
        client = AsyncWebClient(token="xoxb-any", base_url=api.url)
        waiting = api.expect("D1", lambda body: body["text"] == "next")
        await client.chat_postMessage(channel="D1", text="first", blocks=[])
        assert not waiting.done()
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "next"}}]
        sent = await client.chat_postMessage(channel="D1", text="next", blocks=blocks)
        posted = await waiting
        assert posted.channel == "D1" and posted.ref == sent["ts"]
        assert posted.body["blocks"] == blocks  # as a list, however it was sent
        assert api.calls == [] and api.counts["chat.postMessage"] == 2


async def test_the_tests_connector_records_and_the_bench_s_awaits() -> None:
    activity = {"type": "message", "text": "hello"}
    async with (
        Connector() as recording,
        Connector(record=False) as counting,
        aiohttp.ClientSession() as http,
    ):
        for connector in (recording, counting):
            waiting = connector.expect("a:1", lambda body: True)
            url = connector.url + "v3/conversations/a:1/activities"
            async with http.post(url, data=json.dumps(activity)) as response:
                made = (await response.json())["id"]
            assert (await waiting).ref == made
            assert connector.counts["send activity"] == 1
    assert [c.text for c in recording.sent_to("a:1")] == ["hello"]
    assert counting.calls == [] and counting.sent_to("a:1") == []
