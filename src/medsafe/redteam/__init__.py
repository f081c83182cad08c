"""Adaptive red teaming: an attacker model escalates against a target over turns, every turn is
judged with the whole conversation in view, and every call is stored as it happens."""

from medsafe.redteam.processor import FAILURES, OUTCOMES, ConversationProcessor
from medsafe.redteam.session import AttackSession, Budget, Turn
from medsafe.redteam.strategy import (
    AttackEnded,
    AttackerFailure,
    BudgetSpent,
    Strategy,
    TargetFailure,
    marked_text,
    resolve_strategy,
    strategy_names,
)

__all__ = [
    "FAILURES",
    "OUTCOMES",
    "AttackEnded",
    "AttackSession",
    "AttackerFailure",
    "Budget",
    "BudgetSpent",
    "ConversationProcessor",
    "Strategy",
    "TargetFailure",
    "Turn",
    "marked_text",
    "resolve_strategy",
    "strategy_names",
]
