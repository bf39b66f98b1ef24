"""Storage: everything the bot keeps in Redis, behind one package.

| module | what it keeps |
| --- | --- |
| `keys` | every key name, in one place |
| `db` | the shared client and clock, and the one way a call can fail (`StoreUnavailable`) |
| `store` | each user's progress, committed by compare-and-set, and their newest question |
| `cases` | reports told to the person who leads, and the copies of them in that person's chat |
| `statistics` | counts and times for the governors' summary, apart from any case |
| `seal` | Fernet sealing of what is kept secret at rest (tokens, reference numbers) |
| `checks` | the follow-up asking a member of staff whether harmful content came down |
| `timers` | what is due when: one sorted set per platform, claimed atomically by any worker |

Each Lua script answers with a named status (`Created`, `Changed`, ...), never a bare number.
"""

from .cases import Case, Cases, Change, Changed, Created, parse_reference, reference
from .checks import Asked, Check, Checks
from .db import DOWN, Db, StoreUnavailable, writable
from .keys import BadId, Keys
from .seal import Cipher
from .statistics import Statistics, Tally
from .store import DELETED, UNCHANGED, Committed, Duplicate, Store
from .timers import Claim, Timer, Timers

__all__ = [
    "DELETED",
    "DOWN",
    "UNCHANGED",
    "Asked",
    "BadId",
    "Case",
    "Cases",
    "Change",
    "Changed",
    "Check",
    "Checks",
    "Cipher",
    "Claim",
    "Committed",
    "Created",
    "Db",
    "Duplicate",
    "Keys",
    "Statistics",
    "Store",
    "StoreUnavailable",
    "Tally",
    "Timer",
    "Timers",
    "parse_reference",
    "reference",
    "writable",
]
