"""Callbacks run inside the transaction of every checklist change.

The reminder planner registers itself here (``reminders.apps``), so that ``prep`` does not import
the reminders app and the plan is rewritten in the same transaction as the change.
"""

from collections.abc import Callable
from typing import Any

CHECKLIST_CHANGED: list[Callable[..., Any]] = []
