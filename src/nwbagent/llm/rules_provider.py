"""The provider used when no language model is configured or reachable.

It exists so callers can always hold a :class:`~nwbagent.llm.base.Provider`; it never answers, and
callers check ``provider.name == "rules"`` (or catch ``kind="unsupported"``) and run their rule-based path.
"""

from __future__ import annotations

from typing import Any

from nwbagent.llm.base import ChatMessage, LLMError, LLMResult


class RulesProvider:
    name: str = "rules"
    model: str = ""

    def complete(
        self,
        messages: list[ChatMessage],
        output_schema: dict[str, Any] | None = None,
        *,
        operation: str = "chat",
    ) -> LLMResult:
        raise LLMError("the rules provider has no language model", kind="unsupported")
