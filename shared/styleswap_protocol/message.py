"""The in-memory message: what a header plus its pixel buffers mean once decoded."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .pixels import Image

PROTOCOL_VERSION: Final = 2  # 2: buffer descriptors carry a role


def new_id() -> str:
    """A uuid4 hex string, used for message ids and client session ids alike."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Message:
    """One protocol message; `id` and `time` default to fresh values so every send is unique.

    `session` names the client conversation: clients pick one per connection
    (`new_id()`), and replies and events copy it from the request.
    """

    type: str
    session: str
    params: dict[str, Any] = field(default_factory=dict)
    buffers: tuple[Image, ...] = ()
    parent_id: str | None = None
    id: str = field(default_factory=new_id)
    time: float = field(default_factory=time.time)

    def with_role(self, role: str) -> tuple[Image, ...]:
        """The buffers of one role, in the order they were sent."""
        return tuple(image for image in self.buffers if image.role == role)

    def reply(
        self, type: str, params: Mapping[str, Any] | None = None, buffers: Iterable[Image] = ()
    ) -> Message:
        """A reply or event to this message, so `parent_id` and `session` cannot be forgotten."""
        return Message(
            type=type,
            session=self.session,
            params=dict(params or {}),
            buffers=tuple(buffers),
            parent_id=self.id,
        )
