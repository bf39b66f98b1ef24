"""Slack: Events API, `/report-harassment` and button clicks in; Block Kit in the user's DM out.

Only what is Slack's own lives here: reading its requests, drawing Block Kit, and calling its
Web API. Everything a turn does besides is the turn runner's (`conversation.runner`).

| module | its job |
| --- | --- |
| `settings` | `SlackSettings`, what the adapter needs (built by `bot.config`) |
| `request` | reading and checking a request (signature, then the body's shape) as an input |
| `blocks` | drawing: neutral replies as Block Kit, and the action ids they carry |
| `outbox` | the Web API calls a turn makes: the user's DM, another person's, updates |
| `install` | many workspaces: Bolt's OAuth flow, its two pages and its `authorize` |
| `installations`, `states` | slack_sdk's installation and OAuth-state stores, on Redis |
| `cipher` | the Fernet keys sealing the stored tokens |
| `uninstall` | a workspace removing the app: its installation and its users' keys deleted |
| `app` | wiring: `attach` adds the route and the Bolt app with its listeners |

Imports run one way: `app` -> `install`, `uninstall`, `outbox`, `request` -> `blocks`, and
all of them down to `conversation`; nothing here imports `bot`. `bot.config` imports only
`settings`, so that the terminal chat never loads the platform's SDK.
"""
