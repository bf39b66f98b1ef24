"""Telling the person who leads: a layer above the conversation, beside it, never under it.

| module | its job |
| --- | --- |
| `telling` | the offer, consent and Send; the buttons of the person told; `status`; withdrawing |
| `report` | the report and the dated record, drawn from a case in the reader's view |
| `people` | who leads, as the flowchart decides and the school file names them |
| `wording.toml` | every word of it |
"""

from .report import wording
from .telling import FORWARD, Telling, Walk

__all__ = ["FORWARD", "Telling", "Walk", "wording"]
