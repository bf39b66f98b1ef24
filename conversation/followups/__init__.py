"""Follow-ups: the bot keeping time with the flowchart, a layer above telling, below the runner.

| module | its job |
| --- | --- |
| `followups` | `FollowUps`: the runner's way in (timers firing, answers, typed words, Start) |
| `due` | a report's timers (reminders, warning, escalation) and each lead's digest |
| `questions` | asking whether harmful content came down, and the flowchart's next steps |
| `kinds` | the kinds of timer, and the members each case or user has |
| `calendar` | the school's clock: working days, bank holidays, closures, quiet hours |
| `words`, `wording.toml` | every word of it |
"""

from .due import NotDelivered
from .followups import FollowUps

__all__ = ["FollowUps", "NotDelivered"]
