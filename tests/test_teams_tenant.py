"""A tenant id given as something other than text is no tenant: 400, never a 500."""

from __future__ import annotations

import pytest

from bot.config import Settings
from conversation.runner import build
from tests.drivers.connector import Connector
from tests.drivers.teams_user import UNAUTHENTICATED, TeamsUser, poster, serve


@pytest.mark.parametrize("where", ["conversation", "channelData"])
@pytest.mark.parametrize("odd", [["t"], {"id": "t"}, 7])
async def test_a_tenant_that_is_not_text_is_refused_with_400(
    redis, prefix: str, where: str, odd: object
) -> None:
    async with (
        Connector() as connector,
        serve(Settings(teams=UNAUTHENTICATED), build(redis, prefix=prefix)) as http,
    ):
        alice = TeamsUser(poster(http), connector)
        activity = alice.activity(text="hi")
        if where == "conversation":
            activity["conversation"]["tenantId"] = odd
        else:
            activity["channelData"]["tenant"]["id"] = odd
        assert await alice.post(activity) == 400
        assert connector.calls == []
