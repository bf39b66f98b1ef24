"""`python -m bot preview`: one HTML page with the whole conversation as each platform shows it.

Teams cards are drawn in the page by Microsoft's own Adaptive Cards renderer (the npm
`adaptivecards` package that Web Chat uses, with `markdown-it` for the markdown Teams draws),
inlined so that the page works offline. Slack messages are shown as their blocks, drawn
simply, with the plain-text fallback each one carries. Nothing here talks to a platform.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botbuilder.schema import Activity

from adapters.slack import blocks as slack
from adapters.teams import cards as teams
from conversation import plaintext
from conversation.flow import Flow
from conversation.messages import Guidance, Reply
from conversation.paths import Path as FlowPath
from conversation.paths import paths

from . import samples

NODE_MODULES = Path(__file__).resolve().parents[1] / "tests" / "cards" / "node_modules"
SCRIPTS = ("adaptivecards/dist/adaptivecards.min.js", "markdown-it/dist/markdown-it.min.js")

WALKS = {
    "affected": {
        "role": ("affected",),
        "perpetrator": ("staff", "parent"),
        "criteria": ("not_sure",),
        "police": ("not_sure",),
        "lead": ("no",),
        "types": ("calls", "sexual", "content", "other"),
    },
    "handling": {"role": ("handling",), "perpetrator": ("unknown",), "types": ("content",)},
}
"""Two conversations that between them reach every step, once for each role."""


# --- what each platform is sent -----------------------------------------------------------


def card_of(activity: Activity) -> dict[str, Any] | None:
    attachments = activity.attachments or ()
    return next((a.content for a in attachments if a.content_type.endswith(".adaptive")), None)


def teams_cards(every: samples.Every) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Adaptive Card the bot can send (`samples.every(flow)`), as it is sent, each with
    a unique name."""
    token = every.questions[-1].token
    for i, q in enumerate(every.questions):
        yield f"question {q.step} {i}", card_of(teams.question_activity(q, "c0ffee"))
    for i, g in enumerate(every.checklists):
        yield f"checklist {i}", card_of(teams.guidance_activity(g, token))
    for i, a in enumerate(every.answered):
        yield f"answered {i}", card_of(teams.answered(a))
    yield "closed", card_of(teams.closed())


def slack_messages(every: samples.Every) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """Every Slack message the bot can post: name, plain-text fallback, blocks."""
    for i, q in enumerate(every.questions):
        yield f"question {q.step} {i}", *slack.render(q)
    for i, g in enumerate(every.checklists):
        yield f"checklist {i}", *slack.render(g)
    for i, a in enumerate(every.answered):
        yield f"answered {i}", *slack.answered_blocks(a)
    for name, n in every.notices:
        yield f"notice {name}", *slack.render(n)


# --- the page -----------------------------------------------------------------------------


def write(flow: Flow, out: Path) -> Path:
    """Write the page; FileNotFoundError names the npm step if the renderer is missing."""
    scripts = []
    for script in SCRIPTS:
        path = NODE_MODULES / script
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: run `npm ci --prefix {NODE_MODULES.parent}` first"
            )
        scripts.append(path.read_text(encoding="utf-8"))
    out.write_text(page(flow, scripts), encoding="utf-8")
    return out.resolve()


def page(flow: Flow, scripts: list[str]) -> str:
    decider = samples.view(flow)
    sections = []
    for role, answers in WALKS.items():
        path = next(p for p in paths(flow) if _matches(p, answers))
        heading = flow.step("role").option(role)
        title = f"Conversation: {heading.label if heading else role}"
        rows = [
            _row(said.did, list(said.replies), said.answered, f"{role}-{said.step}")
            for said in samples.walk(decider, path)
        ]
        sections.append(_section(title, rows))
    notices = [
        _row(f"gets the notice {name!r}", [n], None, f"notice-{name}")
        for name, n in samples.notices(decider)
    ]
    notices.append(
        "<div class='turn'><div class='did'>a question asked again below closes its card</div>"
        f"<div class='cols'><div class='teams'>{_card_div(teams.closed_card())}</div>"
        "<div class='slack'></div></div></div>"
    )
    sections.append(_section("Notices", notices))
    return TEMPLATE.format(
        sections="\n".join(sections),
        scripts="\n".join(f"<script>{_safe_script(s)}</script>" for s in scripts),
    )


def _matches(path: FlowPath, answers: dict[str, tuple[str, ...]]) -> bool:
    taken = dict(path)
    return all(taken.get(step) == ids for step, ids in answers.items())


def _section(title: str, rows: list[str]) -> str:
    head = "<div class='cols head'><div>Microsoft Teams</div><div>Slack</div></div>"
    return f"<section><h2>{html.escape(title)}</h2>{head}{''.join(rows)}</section>"


def _row(did: str, replies: list[Reply], answered: Any, anchor: str) -> str:
    teams_side, slack_side = [], []
    if answered:
        teams_side.append(_updated(_card_div(teams.answered_card(answered))))
        text, blocks = slack.answered_blocks(answered)
        slack_side.append(_updated(_slack_div(text, blocks)))
    for activity, reply in zip((a for a, _ in teams.activities(replies)), replies, strict=True):
        card = card_of(activity)
        if card:
            teams_side.append(_card_div(card, activity.summary))
        else:
            teams_side.append(f"<div class='bubble'>{_markdown(activity.text)}</div>")
        slack_side.append(_slack_div(*slack.render(reply)))
        if isinstance(reply, Guidance):
            copy = teams.plain_text(plaintext.guidance(reply))
            teams_side.append(
                "<details><summary>after <b>Copy as text</b> (text format plain)</summary>"
                f"<pre class='bubble'>{html.escape(copy.text)}</pre></details>"
            )
    return (
        f"<div class='turn' id='{html.escape(anchor)}'>"
        f"<div class='did'>The person {html.escape(did)}</div>"
        f"<div class='cols'><div class='teams'>{''.join(teams_side)}</div>"
        f"<div class='slack'>{''.join(slack_side)}</div></div></div>"
    )


def _updated(inner: str) -> str:
    return f"<div class='updated'><span>the answered question, updated in place</span>{inner}</div>"


def _card_div(card: dict[str, Any], summary: str | None = None) -> str:
    data = html.escape(json.dumps(card, ensure_ascii=False))
    note = (
        "<details><summary>notification and fallback text "
        f"({len(summary)} characters)</summary><pre>{html.escape(summary)}</pre></details>"
        if summary
        else ""
    )
    return f"<div class='card' data-card=\"{data}\"></div>{note}"


def _slack_div(text: str, blocks: list[dict[str, Any]]) -> str:
    drawn = "".join(_block(b) for b in blocks)
    return (
        f"<div class='slackmsg'>{drawn}</div>"
        f"<details><summary>plain-text fallback ({len(text)} characters)</summary>"
        f"<pre>{html.escape(text)}</pre></details>"
    )


def _block(b: dict[str, Any]) -> str:
    kind = b["type"]
    if kind == "header":
        return f"<h3>{html.escape(b['text']['text'])}</h3>"
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        return f"<p>{_mrkdwn(b['text']['text'])}</p>"
    if kind == "context":
        return "".join(f"<p class='ctx'>{_mrkdwn(e['text'])}</p>" for e in b["elements"])
    if kind == "actions":
        out = []
        for e in b["elements"]:
            if e["type"] == "checkboxes":
                out += [
                    f"<label class='tick'><input type='checkbox'> "
                    f"{html.escape(o['text']['text'])}</label>"
                    for o in e["options"]
                ]
            else:
                style = " primary" if e.get("style") == "primary" else ""
                out.append(f"<button class='sbtn{style}'>{html.escape(e['text']['text'])}</button>")
        return f"<div class='actions'>{''.join(out)}</div>"
    return f"<pre>{html.escape(json.dumps(b))}</pre>"


_SLACK_LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>")


def _mrkdwn(text: str) -> str:
    """Slack's mrkdwn as HTML, roughly: *bold*, <url|name> links (http and https only), line
    breaks. Everything else is text: Slack's escapes undone, then HTML's applied."""
    out, last = [], 0
    for link in _SLACK_LINK.finditer(text):
        out.append(_slack_text(text[last : link.start()]))
        url, label = _unslack(link[1]), _slack_text(link[2])
        if url.startswith(("https://", "http://")):
            out.append(f'<a href="{html.escape(url)}">{label}</a>')
        else:
            out.append(label)
        last = link.end()
    out.append(_slack_text(text[last:]))
    return "".join(out).replace("\n", "<br>")


def _unslack(text: str) -> str:
    """Text as Slack shows it: the three escapes Slack asks for undone."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _slack_text(text: str) -> str:
    escaped = html.escape(_unslack(text))
    return re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", escaped)


def _markdown(text: str) -> str:
    """A Teams text message as HTML: its backslash escapes undone, **bold**, line breaks."""
    escaped = html.escape(re.sub(r"\\([\\`*_\[\]<>()])", r"\1", text))
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
    return escaped.replace("\n", "<br>")


def _safe_script(source: str) -> str:
    return source.replace("</script", "<\\/script")


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Every message of the staff harassment guide bot</title>
<style>
body {{ font-family: "Segoe UI", "DejaVu Sans", sans-serif; margin: 0; background: #f5f5f5;
  color: #242424; font-size: 14px; }}
header {{ padding: 12px 24px; background: #464775; color: white; }}
header h1 {{ margin: 0; font-size: 20px; }} header p {{ margin: 4px 0 0; }}
section {{ padding: 8px 24px; }}
h2 {{ font-size: 17px; margin: 16px 0 8px; }}
.cols {{ display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }}
.head div {{ font-weight: 600; color: #616161; border-bottom: 2px solid #ccc; }}
.turn {{ border-bottom: 1px solid #ddd; padding: 8px 0; }}
.did {{ color: #616161; font-style: italic; margin-bottom: 6px; }}
.teams .card {{ background: white; border-radius: 6px; box-shadow: 0 1px 3px #0002;
  max-width: 520px; margin-bottom: 4px; overflow: hidden; }}
.ac-pushButton {{ background: white; border: 1px solid #d1d1d1; border-radius: 4px;
  padding: 5px 12px; font: 600 14px "Segoe UI", "DejaVu Sans", sans-serif; color: #242424;
  text-align: left; }}
.ac-pushButton:hover {{ background: #f0f0f0; }}
.bubble {{ background: #e8ebfa; border-radius: 6px; padding: 8px 12px; max-width: 520px;
  margin-bottom: 8px; white-space: normal; }}
pre.bubble {{ white-space: pre-wrap; font-family: inherit; }}
.updated {{ opacity: .85; border-left: 3px solid #6bb700; padding-left: 6px; margin-bottom: 8px; }}
.updated > span {{ font-size: 11px; color: #6bb700; }}
.slackmsg {{ background: white; border-radius: 6px; padding: 4px 12px; max-width: 520px;
  font-family: Lato, "DejaVu Sans", sans-serif; box-shadow: 0 1px 3px #0002; }}
.slackmsg h3 {{ font-size: 16px; }} .slackmsg hr {{ border: 0; border-top: 1px solid #ddd; }}
.slackmsg a, .bubble a {{ color: #1264a3; }}
.ctx {{ color: #616061; font-size: 12px; }}
.actions {{ display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }}
.tick {{ display: block; width: 100%; }}
.sbtn {{ border: 1px solid #bbb; background: white; border-radius: 4px; padding: 4px 12px;
  font-weight: 600; }}
.sbtn.primary {{ background: #007a5a; color: white; border-color: #007a5a; }}
details {{ font-size: 12px; color: #616161; margin-bottom: 8px; max-width: 520px; }}
details pre {{ white-space: pre-wrap; }}
</style></head><body>
<header><h1>Every message of the staff harassment guide bot</h1>
<p>Teams cards are drawn by Microsoft's Adaptive Cards renderer; Slack messages show their
blocks and their plain-text fallback. Written by <code>python -m bot preview</code>.</p></header>
{sections}
{scripts}
<script>
const md = window.markdownit({{ linkify: false }});
AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {{
  result.outputHtml = md.render(text);
  result.didProcess = true;
}};
const host = new AdaptiveCards.HostConfig({{
  fontFamily: "'Segoe UI', 'DejaVu Sans', sans-serif",
  actions: {{ actionsOrientation: "vertical", buttonSpacing: 6 }},
}});
for (const el of document.querySelectorAll(".card[data-card]")) {{
  const card = new AdaptiveCards.AdaptiveCard();
  card.hostConfig = host;
  card.parse(JSON.parse(el.dataset.card));
  el.appendChild(card.render());
}}
// An address naming turns (#show=affected-support,affected-types) shows only those turns.
const only = location.hash.startsWith("#show=") ? location.hash.slice(6).split(",") : [];
if (only.length) {{
  for (const turn of document.querySelectorAll(".turn")) {{
    if (!only.includes(turn.id)) turn.style.display = "none";
  }}
  for (const section of document.querySelectorAll("section")) {{
    if (!only.some((id) => section.querySelector("#" + id))) section.style.display = "none";
  }}
}}
</script>
</body></html>
"""
