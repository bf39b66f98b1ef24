"""Drawing what the school sees in Teams: the reports a person holds (`reports`), as an
Adaptive Card, and the record as files: a file consent card for each format, and, once the
person agreed and the file is in their OneDrive, the file's own card.

Every other reply is drawn by `cards`; `activities` draws a turn's replies with both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botbuilder.core import MessageFactory
from botbuilder.schema import Activity, Attachment
from botbuilder.schema.teams import FileConsentCard, FileInfoCard

from conversation import plaintext
from conversation.messages import Answered, Closed, RecordFile, Reply, Reports
from conversation.telling import wording

from . import cards

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
CONSENT_INVOKE = "fileConsent/invoke"
"""The invoke Teams sends when the person answers a file consent card."""
CONTEXT_CASE, CONTEXT_FORMAT = "case", "format"
"""The consent card's context, sent back with the answer: the report, and which file."""


def activities(replies: Iterable[Reply]) -> list[tuple[list[Activity], str | None]]:
    """Each reply as its activities (the record as files is two consent cards), with the
    card id of each question card (else None)."""
    replies = list(replies)
    others = iter(cards.activities(r for r in replies if not isinstance(r, Reports | RecordFile)))
    out: list[tuple[list[Activity], str | None]] = []
    for reply in replies:
        if isinstance(reply, Reports):
            out.append(([reports_activity(reply)], None))
        elif isinstance(reply, RecordFile):
            formats = (reply.only,) if reply.only else RecordFile.FORMATS
            out.append(([consent_activity(reply, fmt) for fmt in formats], None))
        else:
            activity, card_id = next(others)
            out.append(([activity], card_id))
    return out


def as_activity(shown: Reply | Answered | Closed) -> Activity:
    """What an earlier message becomes (an overview drawn again, or anything `cards` draws)."""
    if isinstance(shown, Reports):
        return reports_activity(shown)
    return cards.as_activity(shown)


# --- the reports a person holds ------------------------------------------------------------


def reports_activity(r: Reports) -> Activity:
    message = cards._card(reports_card(r), plaintext.strip_bold(r.title))
    message.text = plaintext.reports(r, cards.SOMEONE)
    return message


def reports_card(r: Reports) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        cards._text(r.title, weight="Bolder", size="Large"),
        cards._text(r.text),
    ]
    entities = []
    for held in r.held:
        at = f"<at>{cards.SOMEONE}</at>"
        entities.append(
            {
                "type": "mention",
                "text": at,
                "mentioned": {"id": held.reporter, "name": cards.SOMEONE},
            }
        )
        heading = cards.markdown(held.heading).format(reporter=at)
        items = [cards._block(heading, weight="Bolder")]
        items += [cards._text(line, isSubtle=True, spacing="Small") for line in held.lines]
        items.append(
            cards._buttons(
                [(label, {"case": held.case, "act": action}) for label, action in held.actions]
            )
        )
        body.append({"type": "Container", "separator": True, "spacing": "Medium", "items": items})
    if r.footer:
        body.append(cards._text(r.footer, separator=True, isSubtle=True))
    card = cards._adaptive(body)
    if entities:
        card["msteams"] = {"entities": entities}
    return card


# --- the record as files --------------------------------------------------------------------


def consent_activity(record: RecordFile, fmt: str) -> Activity:
    """Teams asks the person before a file goes to their OneDrive: this card asks, and its
    answer comes back as a `fileConsent/invoke` naming the report and the format."""
    w = wording()["record"]["file"]
    context = {CONTEXT_CASE: record.case, CONTEXT_FORMAT: fmt}
    card = FileConsentCard(
        description=w["consent"].format(kind=w["kinds"][fmt]),
        size_in_bytes=len(record.content(fmt).encode()),
        accept_context=context,
        decline_context=context,
    )
    attachment = Attachment(
        content_type=FILE_CONSENT, name=f"{record.name}.{fmt}", content=card.serialize()
    )
    return MessageFactory.attachment(attachment)


def file_activity(name: str, content_url: str, unique_id: str, file_type: str) -> Activity:
    """The file, once uploaded: Teams draws it with its name, to open or download."""
    card = FileInfoCard(unique_id=unique_id, file_type=file_type)
    attachment = Attachment(
        content_type=FILE_INFO, name=name, content_url=content_url, content=card.serialize()
    )
    message = MessageFactory.attachment(attachment)
    message.text = wording()["record"]["file"]["uploaded"].format(name=name)
    return message
