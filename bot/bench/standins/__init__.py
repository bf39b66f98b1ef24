"""Local stand-ins for the platform APIs the bot calls: one class per API, on 127.0.0.1.

- `SlackApi` (`slack_api`): the Slack Web API and slash commands' response URLs.
- `Connector` (`connector`): the Bot Framework Connector that Teams replies go to.

Each answers the calls this bot makes the way the real service does, and serves both of
its users: the tests read the calls it recorded (`calls`, `until`), and the benchmark
awaits the next message a bot posts (`expect`) with recording turned off, so that only
counts are kept however long it runs.

They live here, in the product package beside the benchmark, because `python -m bot bench`
ships with the bot and needs them, and the product must never import from `tests/`; the
tests import them from here. Nothing in the runtime (`serve`, `chat`) imports them.
"""

from .base import Posted, StandIn
from .connector import Connector
from .slack_api import SlackApi

__all__ = ["Connector", "Posted", "SlackApi", "StandIn"]
