"""The Strategy interface: one async method, ``run``, that drives one attack conversation.

A strategy decides each next turn from the target's answers and the judge's scores, through an
:class:`~medsafe.redteam.session.AttackSession`: it asks the attacker model for text, sends
conversations to the target, and drops turns it wants forgotten. The session keeps the budget,
judges every turn, declares success and stores every call. Built-in strategies (``pair``,
``crescendo``) and third-party ones are found through the ``medsafe.strategies`` entry-point
group; a factory takes no argument and returns a :class:`Strategy`.
"""

from __future__ import annotations

import abc
import re
from typing import TYPE_CHECKING

from medsafe.errors import MedsafeError
from medsafe.plugins import load_factory, plugin_names

if TYPE_CHECKING:
    from medsafe.redteam.session import AttackSession


class Strategy(abc.ABC):
    """Decides an attack's turns. Subclasses implement :meth:`run`; the rest has defaults."""

    name: str = ""
    description: str = ""

    @abc.abstractmethod
    async def run(self, session: AttackSession) -> None:
        """Attack until ``session.finished`` (a success, or the budget spent), then return.

        Sending after that raises :class:`BudgetSpent`, which ends the attack as well. An
        attacker that fails raises :class:`AttackerFailure` out of ``session.ask_attacker``;
        let it propagate: the conversation is then counted as an attacker failure.
        """


class AttackEnded(Exception):
    """The conversation cannot go on (raised by the session; the strategy lets it propagate)."""


class BudgetSpent(AttackEnded):
    """No query or turn is left, or the attack already succeeded."""


class AttackerFailure(AttackEnded):
    """The attacker model failed, or twice gave nothing usable."""


class TargetFailure(AttackEnded):
    """The target failed after its retries."""


def resolve_strategy(name: str) -> Strategy:
    """The strategy a name stands for, e.g. ``pair``, built by its entry point's factory."""
    if not name:
        raise MedsafeError(f"a red-team suite needs a strategy: redteam:STRATEGY "
                           f"(installed: {', '.join(strategy_names())})")
    strategy = load_factory("strategy", name)()
    if not isinstance(strategy, Strategy):
        raise MedsafeError(f"strategy '{name}' is not a medsafe.redteam.Strategy")
    return strategy


def strategy_names() -> list[str]:
    """Installed strategies (built-in and from other packages)."""
    return plugin_names("strategy")


_QUOTES = "\"'“”‘’`"


def marked_text(text: str, marker: str) -> str:
    """What follows ``MARKER:`` in an attacker's answer (up to the next marked line), or the
    whole answer when it has no marker: small attackers often forget the format."""
    found = re.search(rf"(?im)^\W*{re.escape(marker)}\W*:\s*(.*)", text, re.DOTALL)
    body = found.group(1) if found else text
    body = re.split(r"(?m)^\W*[A-Z][A-Z ]{2,20}:", body)[0]  # a following "ANSWER:" or "NOTE:"
    return body.strip().strip(_QUOTES).strip()
