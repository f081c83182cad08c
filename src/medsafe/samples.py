"""The unit of evaluation: a prompt with its metadata."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, overload

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


class PackedSamples(Sequence[Sample]):
    """A suite's samples held as their JSON bytes, each rebuilt when read.

    A one-turn ``Sample`` costs about 1.3 kB of memory (two pydantic models, their dicts and
    field sets), its JSON a fifth to a third of that, and rebuilding one takes a few
    microseconds. ``append`` packs a sample at once, so a loader that appends as it reads never
    holds its samples as models.
    """

    __slots__ = ("_packed",)

    def __init__(self, samples: Iterable[Sample] = ()) -> None:
        self._packed: list[bytes] = []
        for sample in samples:
            self.append(sample)

    def append(self, sample: Sample) -> None:
        """Add a sample at the end."""
        self._packed.append(sample.model_dump_json().encode())

    def __len__(self) -> int:
        return len(self._packed)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> PackedSamples: ...

    def __getitem__(self, index: int | slice) -> Sample | PackedSamples:
        if isinstance(index, slice):
            part = PackedSamples()
            part._packed = self._packed[index]
            return part
        return Sample.model_validate_json(self._packed[index])

    def __iter__(self) -> Iterator[Sample]:
        for packed in self._packed:
            yield Sample.model_validate_json(packed)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedSamples):
            return self._packed == other._packed
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"PackedSamples({len(self)} samples)"
