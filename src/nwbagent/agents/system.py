"""The one place the bus, the store, the LLM provider and the three agents are wired together.

The CLI and the service both build an :class:`AgentSystem` (the service passes a runner that sends
conversions to its executor) and talk to it through :meth:`AgentSystem.send`, which puts a message from
the user on the bus like any other. Settings are read by those entry points, never here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from nwbagent.agents.bus import Bus
from nwbagent.agents.config import AgentConfig
from nwbagent.agents.contracts import CONVERSATION
from nwbagent.agents.conversation import ConversationAgent, Turn
from nwbagent.agents.conversion import ConversionAgent, Runner, run_here
from nwbagent.agents.evaluation import EvaluationAgent
from nwbagent.agents.state import SessionState
from nwbagent.agents.store import InMemoryStore, SessionStore
from nwbagent.llm.base import Provider
from nwbagent.llm.rules_provider import RulesProvider


class AgentSystem:
    def __init__(
        self,
        store: SessionStore | None = None,
        provider: Provider | None = None,
        *,
        config: AgentConfig | None = None,
        provider_note: str | None = None,
        runner: Runner = run_here,
    ) -> None:
        self.config = config or AgentConfig()
        self.provider = provider or RulesProvider()
        self.bus = Bus()
        self.store = store or InMemoryStore()
        self.conversion = ConversionAgent(self.bus, runner=runner)
        self.evaluation = EvaluationAgent(self.bus)
        self.conversation = ConversationAgent(
            self.bus, self.store, self.provider, provider_note=provider_note, config=self.config
        )

    @property
    def workflow(self) -> Any:
        return self.conversation.workflow

    def new_session(self, output_dir: str | None = None) -> SessionState:
        session = SessionState(output_dir=output_dir)
        self.store.create(session)
        return self.store.get(session.id)

    async def send(self, session_id: str, action: str, payload: BaseModel | dict[str, Any]) -> Turn:
        """A user input (start, user_message, command, set_metadata, …) delivered through the bus."""
        return await self.bus.call(
            session_id=session_id,
            sender="user",
            target=CONVERSATION,
            action=action,
            payload=payload,
            result=Turn,
        )
