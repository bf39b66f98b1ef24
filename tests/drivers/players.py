"""Players: a person talking to the bot on one surface, the same few verbs on each.

`SlackPlayer` sends signed Slack requests over HTTP (`slack_user.SlackUser`, the Web API
stood in for by `slack_api`), `TeamsPlayer` posts Bot Framework activities over HTTP
(`teams_user.TeamsUser`, the Connector stood in for by `connector`), and `TerminalPlayer`
types into the runner through the terminal's own outbox (`bot.console.Screen`). Each reads
back what the person sees: the question still live (its step and the options still
pressable or typeable, from the blocks, the card or the screen) and the messages in their
chat. The contract suite (`tests/test_contract.py`) states each conversational rule once,
over all three.

On Slack a message is read as its newest version, whether `chat.postMessage` or
`chat.update` drew it: a click may redraw its own message in place (the answers so far above
the next question) or close it and post the next one, and both read the same here. So "what
was shown since" is `since(mark())`: each message posted or redrawn after the mark, never a
count of posts.

The app is built in-process, as `serve` builds it (`create_app` over `build`), on the test's
own Redis key prefix; `restart` builds a new one on the same Redis, as a new process would.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import blocks as slack_blocks
from bot.config import Settings
from bot.console import Screen
from bot.web import create_app
from conversation import flow
from conversation.messages import Say, Start, UserKey
from conversation.runner import Runner, build
from conversation.school import NO_SCHOOLS, Person, Schools

from .connector import Call as CardCall
from .connector import Connector
from .leads import all_actions, buttons, press, press_card
from .slack_api import Call, SlackApi
from .slack_user import SlackUser, poster, settings_for
from .standin import StandIn
from .teams_user import UNAUTHENTICATED, TeamsUser, choice_set
from .teams_user import poster as teams_poster
from .teams_user import serve as teams_app

FLOW = flow.load()
SURFACES = ("slack", "teams", "terminal")
U = TypeVar("U")


def step_titled(title: str) -> str | None:
    return next((s.id for s in FLOW.steps if s.title == title), None)


def words(text: str) -> str:
    """Text as read, whatever the platform's bold marks."""
    return text.replace("**", "").replace("*", "")


def texts_in(node: Any) -> list[str]:
    """Every string a person reads in blocks or a card: each `text` and `title`, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "title") and isinstance(value, str):
                found.append(value)
            else:
                found += texts_in(value)
    elif isinstance(node, list):
        for item in node:
            found += texts_in(item)
    return found


def first_lead(schools: Schools) -> Person:
    """The default school's first lead: the person an offer names first."""
    assert schools.default and schools.default.leads, "no school with a lead"
    return schools.default.leads[0]


@dataclass(frozen=True)
class Asked:
    """A question as the person sees it: its step, the option ids still there to choose,
    and the message showing it (the platform's own record; None in a terminal)."""

    step: str
    options: tuple[str, ...]
    message: Any = None


class Player:
    """One person on one surface. `buttons`: whether anything can be clicked there (stale
    and double clicks exist); `deliveries`: whether the platform re-delivers an input."""

    surface: ClassVar[str]
    buttons: ClassVar[bool] = True
    deliveries: ClassVar[bool] = True
    key: UserKey

    def __init__(self, redis: Any, prefix: str, schools: Schools = NO_SCHOOLS) -> None:
        self.redis, self.prefix, self.schools = redis, prefix, schools
        self.runner = self.build()

    def build(self) -> Runner:
        """The whole conversation as `serve` builds it, on the test's keys."""
        return build(self.redis, prefix=self.prefix, schools=self.schools)

    async def __aenter__(self) -> Player:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def restart(self) -> None:
        """The app stopped and started again (a new process): a new app on the same Redis."""
        await self.close()
        self.runner = self.build()
        await self.open()

    # --- what the person does -----------------------------------------------------------

    async def start(self) -> None:
        """Opens the bot: Slack's slash command in the DM, Teams' install, a new chat."""
        raise NotImplementedError

    async def say(self, text: str) -> None:
        raise NotImplementedError

    async def click(self, *ids: str) -> None:
        """Choose options of the current question (one button, or ticks and Continue)."""
        await self.click_on(self.current(), *ids)

    async def click_on(self, asked: Asked, *ids: str) -> None:
        """Choose options of `asked`, which may be an older question (a stale click)."""
        raise NotImplementedError

    async def double_click(self, *ids: str) -> None:
        """Two clicks of the same button arriving together."""
        raise NotImplementedError

    async def say_again(self) -> None:
        """The platform delivering the last typed message again, with the same id."""
        raise NotImplementedError

    async def walk(self, path: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        """From the welcome, each step's answer in turn (checking each step is the one)."""
        await self.start()
        for step, ids in path:
            assert self.current().step == step, (self.current().step, step)
            await self.click(*ids)

    # --- what the person sees -----------------------------------------------------------

    def live(self) -> list[Asked]:
        """Every question still answerable, the one shown last last (one, if the bot is
        right)."""
        raise NotImplementedError

    def question(self) -> Asked | None:
        """The question the person can answer now, if any."""
        live = self.live()
        return live[-1] if live else None

    def current(self) -> Asked:
        asked = self.question()
        assert asked is not None, "no question is shown"
        return asked

    def messages(self) -> list[str]:
        """Each message in the person's chat as it reads now (updates applied), in order."""
        return self.since(0)

    def mark(self) -> int:
        """A point in the chat's history, for `since`."""
        raise NotImplementedError

    def since(self, mark: int) -> list[str]:
        """Each message sent or redrawn after `mark`, as it reads now, oldest change first."""
        raise NotImplementedError

    # --- telling the lead ---------------------------------------------------------------

    def offered(self) -> list[str]:
        """Whom the offer at the end says the person could tell (names on its buttons)."""
        raise NotImplementedError

    async def tell(self, n: int = 0) -> None:
        """Press the offer's n-th person: the preview comes back, nothing is sent yet."""
        raise NotImplementedError

    async def send(self) -> None:
        """Press the preview's Send."""
        raise NotImplementedError

    def to_lead(self) -> list[str]:
        """Each message in the first lead's own chat."""
        raise NotImplementedError


# --- over HTTP --------------------------------------------------------------------------------


class OverHttp(Player, Generic[U]):
    """A person on a platform the app is served to over HTTP, its API stood in for by
    `standin`: the same person (`user`) across restarts, speaking to the new app."""

    def __init__(self, redis: Any, prefix: str, schools: Schools, standin: StandIn) -> None:
        super().__init__(redis, prefix, schools)
        self.standin = standin
        self.http: TestClient | None = None
        self.user: U | None = None
        self._last: dict | None = None

    def serve(self) -> TestClient:
        """The web app over `self.runner`, not yet started."""
        raise NotImplementedError

    def poster(self, http: TestClient) -> Any:
        """What the platform's user posts with, to `http`."""
        raise NotImplementedError

    def person(self, post: Any) -> U:
        """The platform's user, posting with `post`."""
        raise NotImplementedError

    @property
    def me(self) -> U:
        assert self.user is not None
        return self.user

    async def open(self) -> None:
        if not self.standin.base_url:
            await self.standin.__aenter__()
        self.http = self.serve()
        await self.http.start_server()
        if self.user is None:
            self.user = self.person(self.poster(self.http))
        else:  # the same person, speaking to the new app
            self.user._post = self.poster(self.http)  # type: ignore[attr-defined]
        self.key = self.user.key  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
        await self.standin.__aexit__()


# --- Slack ------------------------------------------------------------------------------------


def slack_asks(call: Call) -> str:
    """The step a live message asks: its last block opening with a step's title in bold,
    wherever that is in the message (a message redrawn in place shows the answers above)."""
    for block in reversed(call.blocks):
        text = block.get("text")
        opening = text.get("text", "") if isinstance(text, dict) else ""
        for step in FLOW.steps:
            if opening.startswith(f"*{step.title}*"):
                return step.id
    raise AssertionError("no step's title in a message with buttons")


def slack_versions(api: SlackApi, channel: str, mark: int = 0) -> list[Call]:
    """Each message in a channel as it reads now (its newest accepted `chat.postMessage` or
    `chat.update`), ordered by when it was last drawn; only those drawn at or after `mark`
    (a count of the channel's calls)."""
    latest: dict[str, tuple[int, Call]] = {}
    for at, call in enumerate(api.to(channel)):
        ts = call.response.get("ts") if call.response.get("ok") else None
        posted = call.method == "chat.postMessage"
        if ts and (posted or (call.method == "chat.update" and ts in latest)):
            latest.pop(ts, None)  # reinserted: the dict keeps the order of drawing
            latest[ts] = (at, call)
    return [call for at, call in latest.values() if at >= mark]


def slack_words(call: Call) -> str:
    return words("\n".join(texts_in(call.blocks)) or call.text)


class SlackPlayer(OverHttp[SlackUser]):
    surface = "slack"

    def __init__(self, redis: Any, prefix: str, schools: Schools = NO_SCHOOLS) -> None:
        self.api = SlackApi()
        super().__init__(redis, prefix, schools, self.api)

    def serve(self) -> TestClient:
        return TestClient(TestServer(create_app(settings_for(self.api), self.runner)))

    def poster(self, http: TestClient) -> Any:
        return poster(http)

    def person(self, post: Any) -> SlackUser:
        return SlackUser(post, self.api)

    async def start(self) -> None:
        assert await self.me.command(self.me.dm) == 200

    async def say(self, text: str) -> None:
        self._last = self.me.event(text)
        assert await self.me.send_json(self._last) == 200

    async def say_again(self) -> None:
        assert self._last is not None
        assert await self.me.send_json(self._last, **{"X-Slack-Retry-Num": "1"}) == 200

    async def click_on(self, asked: Asked, *ids: str) -> None:
        assert await self.me.answer(*ids, message=asked.message) == 200

    async def double_click(self, *ids: str) -> None:
        payload = self.me.click(*ids, message=self.current().message)
        assert await asyncio.gather(self.me.act(payload), self.me.act(payload)) == [200, 200]

    def live(self) -> list[Asked]:
        asked = []
        for call in slack_versions(self.api, self.me.dm):
            options = [
                e["action_id"].removeprefix(slack_blocks.ANSWER)
                for e in call.actions
                if e["action_id"].startswith(slack_blocks.ANSWER)
            ]
            options += [o["value"] for e in call.actions for o in e.get("options", ())]
            if options:
                asked.append(Asked(slack_asks(call), tuple(options), call))
        return asked

    def messages(self) -> list[str]:
        """In the order posted: a message redrawn in place keeps its place in the chat."""
        drawn = {c.response["ts"]: c for c in slack_versions(self.api, self.me.dm)}
        return [slack_words(drawn[c.response["ts"]]) for c in self.api.posted(self.me.dm)]

    def mark(self) -> int:
        return len(self.api.to(self.me.dm))

    def since(self, mark: int) -> list[str]:
        return [slack_words(c) for c in slack_versions(self.api, self.me.dm, mark)]

    def _with(self, channel: str, prefix: str) -> Call:
        found = [
            c
            for c in slack_versions(self.api, channel)
            if any(b["action_id"].startswith(prefix) for b in buttons(c))
        ]
        assert found, f"no message with a {prefix} button"
        return found[-1]

    def offered(self) -> list[str]:
        offer = self._with(self.me.dm, slack_blocks.TELL)
        return [b["text"]["text"] for b in buttons(offer)]

    async def tell(self, n: int = 0) -> None:
        offer = self._with(self.me.dm, slack_blocks.TELL)
        assert await press(self.me, offer, buttons(offer)[n]["action_id"]) == 200

    async def send(self) -> None:
        preview = self._with(self.me.dm, slack_blocks.SEND)
        assert await press(self.me, preview, slack_blocks.SEND) == 200

    def to_lead(self) -> list[str]:
        dm = f"D{first_lead(self.schools).slack}"
        return [slack_words(c) for c in slack_versions(self.api, dm)]


# --- Teams ------------------------------------------------------------------------------------


def teams_versions(connector: Connector, chat: str, mark: int = 0) -> list[CardCall]:
    """Each message sent into a chat as it reads now (its newest update applied), ordered
    by when it was last drawn; only those drawn at or after `mark` (a count of all calls)."""
    latest: dict[str, tuple[int, CardCall]] = {}
    for at, call in enumerate(connector.calls):
        if call.conversation != chat:
            continue
        if call.method == "POST":
            latest[call.created] = (at, call)
        elif call.method == "PUT" and call.activity_id in latest:
            latest.pop(call.activity_id)
            latest[call.activity_id] = (at, call)
    return [call for at, call in latest.values() if at >= mark]


def teams_words(call: CardCall) -> str:
    return words("\n".join(texts_in(call.card["body"])) if call.card else call.text)


class TeamsPlayer(OverHttp[TeamsUser]):
    surface = "teams"

    def __init__(self, redis: Any, prefix: str, schools: Schools = NO_SCHOOLS) -> None:
        self.connector = Connector()
        super().__init__(redis, prefix, schools, self.connector)

    def serve(self) -> TestClient:
        return teams_app(Settings(teams=UNAUTHENTICATED), self.runner)

    def poster(self, http: TestClient) -> Any:
        return teams_poster(http)

    def person(self, post: Any) -> TeamsUser:
        return TeamsUser(post, self.connector)

    async def start(self) -> None:
        assert await self.me.install() == 201

    async def say(self, text: str) -> None:
        self._last = self.me.activity(text=text, textFormat="plain")
        assert await self.me.post(self._last) == 201

    async def say_again(self) -> None:
        assert self._last is not None
        assert await self.me.post(self._last) == 201

    async def click_on(self, asked: Asked, *ids: str) -> None:
        assert await self.me.answer(*ids, card=asked.message) == 201

    async def double_click(self, *ids: str) -> None:
        card = self.current().message
        first, second = self.me.submit(*ids, card=card), self.me.submit(*ids, card=card)
        assert await asyncio.gather(self.me.post(first), self.me.post(second)) == [201, 201]

    def live(self) -> list[Asked]:
        asked = []
        for call in teams_versions(self.connector, self.me.chat):
            step = step_titled(call.card["body"][0].get("text", "")) if call.card else None
            if step is None or call.card is None:
                continue
            options = [a["data"]["option"] for a in all_actions(call.card) if "option" in a["data"]]
            choices = choice_set(call.card)
            options += [c["value"] for c in choices["choices"]] if choices else []
            if options:
                asked.append(Asked(step, tuple(options), call))
        return asked

    def messages(self) -> list[str]:
        drawn = {c.created: c for c in teams_versions(self.connector, self.me.chat)}
        return [teams_words(drawn[c.created]) for c in self.connector.sent_to(self.me.chat)]

    def mark(self) -> int:
        return len(self.connector.calls)

    def since(self, mark: int) -> list[str]:
        return [teams_words(c) for c in teams_versions(self.connector, self.me.chat, mark)]

    def _with(self, key: str) -> CardCall:
        found = [
            c
            for c in teams_versions(self.connector, self.me.chat)
            if c.card and any(key in a["data"] for a in all_actions(c.card))
        ]
        assert found, f"no card with a {key} button"
        return found[-1]

    def offered(self) -> list[str]:
        offer = self._with("tell").card or {}
        return [a["title"] for a in all_actions(offer) if "tell" in a["data"]]

    async def tell(self, n: int = 0) -> None:
        offer = self._with("tell")
        person = [a["data"]["tell"] for a in all_actions(offer.card or {}) if "tell" in a["data"]]
        assert await press_card(self.me, offer, tell=person[n]) == 201

    async def send(self) -> None:
        preview = self._with("send")
        (send, *_) = [a for a in all_actions(preview.card or {}) if a["data"].get("send")]
        assert await press_card(self.me, preview, send=send["data"]["send"]) == 201

    def to_lead(self) -> list[str]:
        chat = self.connector.chat_with(first_lead(self.schools).teams)
        return [teams_words(c) for c in self.connector.sent_to(chat)] if chat else []


# --- the terminal -----------------------------------------------------------------------------


class TerminalPlayer(Player):
    """The terminal chat in-process: the same runner `chat` builds, the terminal's own
    outbox (`Screen`) printing into a screen this player reads. Typing is all there is:
    nothing can be clicked twice or late, and nothing is re-delivered."""

    surface = "terminal"
    buttons = False
    deliveries = False

    def __init__(self, redis: Any, prefix: str, schools: Schools = NO_SCHOOLS) -> None:
        super().__init__(redis, prefix, schools)
        self.key = UserKey("terminal", "local", prefix)
        self.printed: list[str] = []
        self.open_screen()

    def open_screen(self) -> None:
        """A new terminal: nothing of the chat is on it."""
        out = io.StringIO()
        out.write = self._printed  # type: ignore[method-assign]
        self.screen = Screen(out)
        self.printed = []

    def _printed(self, text: str) -> int:
        self.printed.append(text)
        return len(text)

    async def restart(self) -> None:
        await super().restart()
        self.open_screen()

    async def _run(self, inp: Say | Start) -> None:
        await self.runner.run(self.key, inp, self.screen)

    async def start(self) -> None:
        await self._run(Start(fresh=True))

    async def say(self, text: str) -> None:
        await self._run(Say(text))

    async def click_on(self, asked: Asked, *ids: str) -> None:
        """Typed as a person answers in a terminal: the options' numbers."""
        await self.say(",".join(str(asked.options.index(i) + 1) for i in ids))

    def live(self) -> list[Asked]:
        """The last question printed: its numbered options, under its title."""
        screen = "\n" + "".join(self.printed)
        worded = FLOW.surfaces.get("terminal", FLOW)
        best: tuple[int, int, Asked] | None = None
        for step in worded.steps:
            if not step.options:
                continue
            numbered = "\n".join(f"{i}) {o.label}" for i, o in enumerate(step.options, 1))
            for found in re.finditer(re.escape(numbered) + r"(?=\n\n|\n\(|$)", screen):
                titled = screen.rfind(f"\n{step.title}\n\n", 0, found.start())
                if titled < 0:
                    continue
                seen = (found.end(), titled, Asked(step.id, tuple(o.id for o in step.options)))
                if best is None or seen[:2] > best[:2]:
                    best = seen
        return [best[2]] if best else []

    def mark(self) -> int:
        return len(self.printed)

    def since(self, mark: int) -> list[str]:
        return [words(t) for t in self.printed[mark:]]

    def offered(self) -> list[str]:
        """Nothing to click: the offer says, in words, whom to tell and what they would get."""
        return []

    def to_lead(self) -> list[str]:
        return []


PLAYERS: dict[str, type[Player]] = {
    "slack": SlackPlayer,
    "teams": TeamsPlayer,
    "terminal": TerminalPlayer,
}


def player(surface: str, redis: Any, prefix: str, schools: Schools = NO_SCHOOLS) -> Player:
    """A person on `surface`; use as `async with player(...) as p:`."""
    return PLAYERS[surface](redis, prefix, schools)
