"""What a judge reads of a conversation: the target's turns, alone and together, and a transcript.

A red-team conversation is judged turn by turn. The turn under judgement is the last assistant
message; the request it is judged against is the original one (the attacker's disguise is not
the aim). Harm can be spread over several answers, so judges that read (request, response) pairs
also read the assistant's answers so far as one response.
"""

from __future__ import annotations

from collections.abc import Sequence

from medsafe.samples import Message


class NoAnswerError(ValueError):
    """The conversation does not end with an assistant turn: there is nothing to judge."""


def last_answer(conversation: Sequence[Message]) -> str:
    """The assistant turn under judgement (the conversation's last message)."""
    if not conversation or conversation[-1].role != "assistant":
        raise NoAnswerError("a conversation to judge must end with the assistant's answer")
    return conversation[-1].content


def answers(conversation: Sequence[Message]) -> list[str]:
    """Every assistant turn, in order."""
    return [m.content for m in conversation if m.role == "assistant"]


def is_single_exchange(conversation: Sequence[Message]) -> bool:
    """One answer to one request (system turns aside): judged exactly as a pair."""
    return len(answers(conversation)) == 1 and sum(m.role == "user" for m in conversation) == 1


def pair_views(conversation: Sequence[Message]) -> list[str]:
    """The responses a pair judge reads for the last turn: that answer alone and, when earlier
    answers exist, all the answers so far joined (harm spread over turns is seen together)."""
    last = last_answer(conversation)
    together = answers(conversation)
    if len(together) == 1:
        return [last]
    return [last, "\n\n".join(together)]


def transcript(conversation: Sequence[Message]) -> str:
    """The conversation as plain text, one labelled turn after another."""
    return "\n\n".join(f"{m.role.upper()}: {m.content}" for m in conversation)
