"""Wire the bus, the store, the LLM provider and the three agents together.

This is the one place that knows all three agents; the service and the CLI talk to the system through
:meth:`AgentSystem.send`, which puts a message from the user on the bus like any other.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from nwbagent.agents.bus import Bus
from nwbagent.agents.contracts import CONVERSATION
from nwbagent.agents.conversation import ConversationAgent, Turn
from nwbagent.agents.conversion import ConversionAgent
from nwbagent.agents.evaluation import EvaluationAgent
from nwbagent.agents.state import SessionState
from nwbagent.agents.store import InMemoryStore, SessionStore
from nwbagent.llm import get_provider_or_rules
from nwbagent.llm.base import Provider
from nwbagent.settings import Settings, get_settings


class AgentSystem:
    def __init__(
        self,
        store: SessionStore | None = None,
        provider: Provider | None = None,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or get_settings()
        note: str | None = None
        if provider is None:
            provider, note = get_provider_or_rules(settings)
        self.provider = provider
        self.bus = Bus()
        self.store = store or InMemoryStore()
        self.conversion = ConversionAgent(self.bus)
        self.evaluation = EvaluationAgent(self.bus)
        self.conversation = ConversationAgent(self.bus, self.store, provider, provider_note=note)

    def new_session(self, output_dir: str | None = None) -> SessionState:
        session = SessionState(output_dir=output_dir)
        self.store.create(session)
        return self.store.get(session.id)

    async def send(self, session_id: str, action: str, payload: BaseModel | dict[str, Any]) -> Turn:
        """A user input (start, user_message, command, set_metadata) delivered through the bus."""
        return await self.bus.call(
            session_id=session_id,
            sender="user",
            target=CONVERSATION,
            action=action,
            payload=payload,
            result=Turn,
        )
