"""A Teams turn: the engine's answer to one activity, shown in the user's 1:1 chat.

Everything about the case happens in the user's 1:1 chat with the bot. A start from a
channel or group chat gets one line there ("I've messaged you privately") and the
conversation continues in a 1:1 chat the bot creates.
"""

from __future__ import annotations

import asyncio
import logging

from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationParameters

from adapters import live
from conversation.engine import Busy, Engine
from conversation.messages import (
    Choose,
    Command,
    Deliver,
    Do,
    Guidance,
    Input,
    Notice,
    Outcome,
    Question,
    Start,
    Turn,
    UserKey,
)
from conversation.store import StoreUnavailable

from . import lead, request
from .cards import activities, answered, closed, guidance_text, notice

log = logging.getLogger("adapters.teams")

MOVED_PRIVATE = "I've messaged you privately."
CANNOT_MOVE = (
    "I couldn't message you privately. Open a chat with me in Teams and send me any message "
    "to start."
)

NOT_INVOKABLE = Activity(
    type=ActivityTypes.invoke_response,
    value=InvokeResponse(status=400, body={"error": "this bot takes no invoke activities"}),
)


class TeamsBot:
    """One turn per activity: translate, ask the engine, show the replies in the 1:1 chat."""

    def __init__(self, engine: Engine, app_id: str) -> None:
        self.engine = engine
        self.app_id = app_id

    async def on_turn(self, context: TurnContext) -> None:
        activity = context.activity
        if activity.type == ActivityTypes.message:
            if request.is_personal(activity):
                await self._personal(context, request.input_of(activity))
            else:
                await self._move_to_private(context)
        elif activity.type == ActivityTypes.conversation_update and request.bot_added(activity):
            await self._installed(context)
        elif request.removed(activity) and request.is_personal(activity):
            await self._forget(context)
        elif activity.type == ActivityTypes.invoke:
            # No card or extension of this bot invokes it, and left unanswered the SDK would
            # answer 501: say it is not a request this bot takes.
            await context.send_activity(NOT_INVOKABLE)

    async def _installed(self, context: TurnContext) -> None:
        """Installed, or the 1:1 chat opened: the welcome. Added to a team or group chat:
        nothing is said there, because the case never starts in public."""
        if request.is_personal(context.activity):
            await self._personal(context, Start())

    async def _forget(self, context: TurnContext) -> None:
        """Uninstalled from their personal scope: their progress is deleted, as if they had
        said "delete my data", and nothing is sent to them (the chat has no bot any more);
        a report they made is withdrawn from the person told."""
        activity = context.activity
        user = request.user(activity)
        result = await self._turn(activity, user, Do(Command.DELETE))
        if isinstance(result, Turn):
            courier = lead.Courier(context, user, request.tenant(activity))
            for delivery in result.deliveries:
                await courier.deliver(delivery)

    async def _personal(self, context: TurnContext, inp: Input) -> None:
        user = request.user(context.activity)
        result = await self._turn(context.activity, user, inp)
        if isinstance(result, Turn):
            if result.outcome is Outcome.RESENT and request.wants_text(context.activity):
                # "Copy as text": the checklist as text, and nothing else; the card with the
                # final question stays as it was.
                texts = [guidance_text(r) for r in result.replies if isinstance(r, Guidance)]
                await context.send_activities(texts)
                return
            click = request.clicked(context.activity) if isinstance(inp, Choose) else None
            await self._show(context, user, result, click)
            await self._deliver(context, user, result.deliveries)
        elif result is not None:
            await context.send_activity(notice(result))

    async def _deliver(
        self, context: TurnContext, user: UserKey, deliveries: tuple[Deliver, ...]
    ) -> None:
        """Messages for other people (the person told, or the member of staff told of what
        they did), each followed by what its outcome leads to, said in this chat."""
        courier = lead.Courier(context, user, request.tenant(context.activity))
        for delivery in deliveries:
            ref = await courier.deliver(delivery)
            if delivery.then is None:
                continue
            after = await delivery.then(ref)
            await self._show(context, user, after, None)
            await self._deliver(context, user, after.deliveries)

    async def _move_to_private(self, context: TurnContext) -> None:
        activity = context.activity
        user = request.user(activity)
        result = await self._turn(activity, user, Start())
        if result is None:
            return
        if isinstance(result, Notice):  # storage is down: says nothing about the case
            await context.send_activity(notice(result))
            return
        tenant = request.tenant(activity)
        params = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=activity.recipient.id),
            members=[ChannelAccount(id=activity.from_property.id)],
            tenant_id=tenant or None,
            channel_data={"tenant": {"id": tenant}} if tenant else None,
        )

        async def in_private(private: TurnContext) -> None:
            await self._show(private, user, result, None)

        try:
            await context.adapter.create_conversation(
                self.app_id, in_private, params, activity.channel_id, activity.service_url
            )
        except Exception as exc:  # the SDK raises msrest errors of several kinds
            log.warning("teams private chat failed", extra={"error": type(exc).__name__})
            await context.send_activity(MessageFactory.text(CANNOT_MOVE))
            return
        await context.send_activity(MessageFactory.text(MOVED_PRIVATE))

    async def _turn(self, activity: Activity, user: UserKey, inp: Input) -> Turn | Notice | None:
        """The engine's turn; None for a re-delivery; the polite notice if storage is down."""
        try:
            # Teams re-sends an activity it saw no answer to within 15 seconds, with the
            # same id: the engine applies each delivery once.
            name = activity.from_property.name if activity.from_property else None
            turn = await self.engine.handle(
                user, inp, request.delivery(activity), name if isinstance(name, str) else ""
            )
        except (StoreUnavailable, Busy) as exc:
            log.warning("teams turn unavailable", extra={"error": type(exc).__name__})
            return self.engine.notice("unavailable")
        return None if turn.outcome is Outcome.DUPLICATE else turn

    async def _show(
        self, context: TurnContext, user: UserKey, turn: Turn, click: request.Clicked | None
    ) -> None:
        """Send the replies, and leave one live question card: the card answered shows the
        answer, and a card whose question is asked again below is closed (`adapters.live`)."""
        conversation = context.activity.conversation.id
        if not turn.replies:  # an answered turn always has the next question to send
            return
        change = await self._change(user, conversation, turn, click)
        rendered = activities(turn.replies, lead.as_activity)
        # The card changed in place and the replies are independent calls: both at once.
        sending = context.send_activities([activity for activity, _ in rendered])
        if change:
            _, sent = await asyncio.gather(self._replace(context, change), sending)
        else:
            sent = await sending
        questions = [
            (reply, live.place(f"{conversation}\n{response.id}\n{card_id}", reply))
            for reply, (_, card_id), response in zip(turn.replies, rendered, sent, strict=True)
            if isinstance(reply, Question) and response and response.id
        ]
        if questions:
            await self.engine.store.remember_message(user, *questions[-1])

    async def _change(
        self, user: UserKey, conversation: str, turn: Turn, click: request.Clicked | None
    ) -> Activity | None:
        """The older card to change in place, if any: the answer, or closed."""
        if turn.answered and click and click.activity_id:
            return answered(click.activity_id, turn.answered)  # Teams said which card
        if not any(isinstance(r, Question) for r in turn.replies):
            return None
        newest, version = await self._last_card(user, conversation)
        if turn.answered:
            card = _answered_card(click, newest)
            return answered(card, turn.answered) if card else None
        return closed(newest.activity_id) if newest and live.closes(turn, version) else None

    async def _last_card(
        self, user: UserKey, conversation: str
    ) -> tuple[request.Clicked | None, int | None]:
        """The newest question card in this chat, and its question's version."""
        ref, version = live.read(await self.engine.store.recall_message(user))
        where, activity_id, card_id = [*ref.split("\n", 2), "", "", ""][:3]
        if where != conversation or not activity_id:
            return None, None
        return request.Clicked(activity_id, card_id or None), version

    @staticmethod
    async def _replace(context: TurnContext, change: Activity) -> None:
        """Change a card in place. Only cosmetic, so a refusal (the card was deleted, say)
        must not stop the next question from being sent."""
        try:
            await context.update_activity(change)
        except Exception as exc:  # msrest raises errors of several kinds
            log.warning("teams card update failed", extra={"error": type(exc).__name__})


def _answered_card(click: request.Clicked | None, newest: request.Clicked | None) -> str | None:
    """The card to show the answer in. A typed answer answers the newest card. A click names
    its card by replyToId, or else by the card id in its submit data: when that is not the
    newest card's, which card it was is unknown, and every card is left as it is rather
    than the wrong one replaced."""
    if click is None:
        return newest.activity_id if newest else None
    if newest and click.card_id and click.card_id == newest.card_id:
        return newest.activity_id
    return None
