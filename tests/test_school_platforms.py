"""Two schools side by side in one `serve`, over Slack and Teams: each user sees their own.

One real `python -m bot serve` with a school file serves both platforms against the
local stand-ins of the Slack Web API and the Bot Framework Connector. Users of two Slack
workspaces and two Teams tenants walk a path each; everything sent to each of them must
carry their own school's details and none of the other school's.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from conversation.messages import UserKey
from conversation.school import School
from tests.drivers.connector import Connector
from tests.drivers.slack_api import TOKEN, SlackApi
from tests.drivers.slack_user import SECRET, SlackUser, guidance_of
from tests.drivers.slack_user import TEAM as SLACK_TEAM
from tests.drivers.teams_user import TENANT, TeamsUser

from .expected_paths import check_guidance
from .helpers import path_where, serving
from .school_files import ALDER_TENANT, BIRCH_TENANT, two_schools, words_of, write

SCHOOLS = two_schools()
ALDER, BIRCH = SCHOOLS.default, SCHOOLS.by_id["T0BIRCH"]
HEAD_AFFECTED = path_where(perpetrator=("pupil",), lead=("yes",), types=("calls",))
LEAD_LEADS = path_where(perpetrator=("parent",), lead=("no",), types=("content",))


class SlackUserOf(SlackUser):
    """A Slack user of another workspace: the same requests, with its own team id."""

    def __init__(self, api: SlackApi, name: str, team: str) -> None:
        super().__init__(None, api, name)  # type: ignore[arg-type]
        self.team = team
        self.key = UserKey("slack", team, self.id)

    async def send(self, body: bytes, content_type: str, **headers: str) -> int:
        return await super().send(
            body.replace(SLACK_TEAM.encode(), self.team.encode()), content_type, **headers
        )


class TeamsUserOf(TeamsUser):
    """A Teams user of another tenant."""

    def __init__(self, connector: Connector, name: str, tenant: str) -> None:
        super().__init__(None, connector, name)
        self.tenant = tenant
        self.key = UserKey("teams", tenant, self.aad)

    async def post(self, body: dict | bytes) -> int:
        assert isinstance(body, dict)
        return await super().post(json.loads(json.dumps(body).replace(TENANT, self.tenant)))


def check_own_school(shown: str, school: School, path: tuple, link: str) -> None:
    """Everything one user was sent: their school's details, where the path puts them."""
    answers = dict(path)
    assert f"staff at {school.name}" in shown
    for person in school.who_leads(answers["lead"] == ("yes",)):
        assert f"At {school.name}, that is {person.name}" in shown
    for person in school.who_leads(answers["lead"] != ("yes",)):
        assert f"that is {person.name}" not in shown
    if school.eap:
        assert school.eap.name in shown and school.eap.phone in shown
    else:
        assert "the school office or HR has the details" in shown
    wanted = {"pupil": "behaviour_policy", "parent": "parental_code_of_conduct"}
    policy = wanted[answers["perpetrator"][0]]
    if policy in school.policies:
        assert link.format(url=school.policies[policy]) in shown
    other = BIRCH if school is ALDER else ALDER
    for word in words_of(other):
        assert word not in shown, word


async def test_two_schools_over_slack_and_teams_each_user_sees_their_own(
    tmp_path: Path, redis_url: str, redis
) -> None:
    slack_users = []
    teams_users = []
    copied: dict[str, str] = {}
    try:
        async with SlackApi() as api, Connector() as connector:
            env = {
                "REDIS_URL": redis_url,
                "SCHOOL_CONFIG": str(write(tmp_path)),
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": api.url,
                "MicrosoftAppId": "",
                "TEAMS_ALLOW_UNAUTHENTICATED": "1",
            }
            async with aiohttp.ClientSession() as session, serving(session, env) as served:
                for name, team, path in (
                    ("annbirch", "T0BIRCH", HEAD_AFFECTED),
                    ("benalder", "T0ALDERWS", LEAD_LEADS),  # no table of its own: [school]
                ):
                    user = SlackUserOf(api, name, team)

                    async def post(
                        body: bytes, content_type: str, headers: dict[str, str], dm: str = user.dm
                    ) -> int:
                        before = len(api.shown(dm))
                        async with session.post(
                            f"{served.url}/slack/events",
                            data=body,
                            headers={"Content-Type": content_type, **headers},
                        ) as response:
                            status = response.status
                        await api.until(dm, lambda calls: len(api.shown(dm)) > before)
                        return status

                    user._post = post
                    slack_users.append((user, path))
                    await user.walk(path)

                async def post_teams(body: dict) -> int:
                    async with session.post(f"{served.url}/api/messages", json=body) as response:
                        return response.status

                for name, tenant, path in (
                    ("cat-birch", BIRCH_TENANT, LEAD_LEADS),
                    ("dan-alder", ALDER_TENANT, HEAD_AFFECTED),
                ):
                    user = TeamsUserOf(connector, name, tenant)
                    user._post = post_teams
                    teams_users.append((user, path))
                    await user.walk(path)
                    # The checklist is a card; its text comes when the person asks for it.
                    copied[user.chat] = (await user.copy_as_text()).text

            for user, path in slack_users:
                school = BIRCH if user.team == "T0BIRCH" else ALDER
                sent = api.to(user.dm)
                shown = json.dumps([c.args for c in sent], ensure_ascii=False)
                check_own_school(shown, school, path, "<{url}|")
                (guidance,) = guidance_of(api, user.dm)
                check_guidance(guidance.text, dict(path))
            for user, path in teams_users:
                school = BIRCH if user.tenant == BIRCH_TENANT else ALDER
                shown = json.dumps(
                    [c.body for c in connector.sent_to(user.chat)], ensure_ascii=False
                )
                check_own_school(shown, school, path, "]({url})")
                check_guidance(copied[user.chat], dict(path))
        assert served.proc.returncode == 0
        for word in (*words_of(ALDER), *words_of(BIRCH)):
            assert word not in served.stderr  # nothing from the school file in the logs
    finally:
        keys = [
            k
            for u, _ in (*slack_users, *teams_users)
            async for k in redis.scan_iter(
                f"hb:{{{u.key.platform}:{u.key.workspace}:{u.key.user}}}*"
            )
        ]
        if keys:
            await redis.delete(*keys)
