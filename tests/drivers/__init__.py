"""What the tests (and the benchmark) drive the bot with: one stand-in per platform API, and
the players that talk to the bot as a person would on each surface.

| module | what it is |
| --- | --- |
| `standin` | what every stand-in shares: a loopback server, call counts, `expect` |
| `slack_api` | the Slack Web API and slash commands' response URLs |
| `connector` | the Bot Framework Connector that Teams messages go to |
| `players` | one person on Slack, Teams or the terminal, the same verbs on each (`test_contract`) |

Each stand-in answers the calls this bot makes the way the real service does, and serves
both of its users: the tests read the calls it recorded, and the benchmark awaits the next
message a bot posts (`expect`) with recording turned off. They live under `tests/`, never in
the product: the wheel ships neither them nor the benchmark (`bench/`, run from a checkout).
"""
