"""Microsoft Teams: Bot Framework activities in, neutral inputs to the runner, Adaptive Cards out.

The only package that imports the Bot Framework SDK. botbuilder-python is archived
upstream, so a later move to the Microsoft 365 Agents SDK should touch this package and
nothing else (its Connector calls are all in `outbox` and `connector`). One module per job:

| module | its job |
| --- | --- |
| `settings` | `TeamsSettings`, what the adapter needs (built by `bot.config`) |
| `request` | reading and checking an activity, and reading it as a neutral input |
| `cards` | drawing: neutral replies as activities and Adaptive Cards |
| `outbox` | where a turn's messages go: the 1:1 chat, another person's, cards drawn again |
| `signatures` | the Bot Framework's JWT, checked with keys fetched in the background |
| `tokens` | the bot's own bearer token from Entra (MSAL), renewed before expiry |
| `connector` | authenticating requests; the Connector's REST API over aiohttp |
| `app` | wiring: `attach` adds `POST /api/messages`; `TeamsBot` routes each activity |

Imports run one way: `app` -> `outbox` -> `request` -> `cards`, and all of them down to
`conversation`; nothing here imports `bot`. `bot.config` imports only `settings`.
"""
