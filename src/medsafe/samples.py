"""The unit of evaluation: a prompt with its metadata."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


class Sample(BaseModel):
    """One prompt (as chat messages) with its id, suite, principle, split and reference answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    suite: str
    messages: tuple[Message, ...]
    principle: int | None = Field(default=None, ge=1, le=9)
    split: str | None = None
    reference: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # User turns that each wait for the model's answer to the conversation so far: the engine
    # asks ``messages``, appends the answer and the next turn, asks again, and so on; the
    # sample's response is the answer to the last turn ("Are you sure? I think it's C").
    follow_ups: tuple[str, ...] = ()

    @property
    def request(self) -> str:
        """The last user turn: what a judge treats as the request."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


def user_sample(sample_id: str, suite: str, text: str, **fields: Any) -> Sample:
    """Build a single-turn sample from a user request."""
    return Sample(id=sample_id, suite=suite, messages=(Message(role="user", content=text),), **fields)


def messages_digest(messages: tuple[Message, ...] | list[Message]) -> str:
    """A stable SHA-256 of a conversation, used in cache keys."""
    payload = json.dumps([m.model_dump() for m in messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
