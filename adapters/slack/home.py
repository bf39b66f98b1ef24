"""The Home tab: published for one person with `views.publish`, for their eyes only.

Its reference, as a copy of the reports it shows, is `home\\n<user id>`: withdrawing a report
draws a notice over it, and the person's next visit draws their overview again.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from conversation.messages import Notice, Reports

from .overview import home_view

HOME = "home\n"


def home_of(user_id: str) -> str:
    return HOME + user_id


def is_home(where: str) -> bool:
    return where.startswith(HOME)


async def publish(client: AsyncWebClient, where: str, shown: Reports | Notice) -> None:
    """Draw `shown` as the Home tab `where` names (raises the Web API's errors)."""
    await client.views_publish(user_id=where.removeprefix(HOME), view=home_view(shown))
