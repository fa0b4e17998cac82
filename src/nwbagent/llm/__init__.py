"""The language-model layer: one provider interface, three implementations, prompts as files.

Use :func:`get_provider_or_rules` at entry points (it never fails), :func:`render_prompt` and
:func:`as_data` to build messages, and treat every result as data to validate, never as authority.
"""

import logging

from nwbagent.llm.base import ChatMessage, LLMError, LLMResult, Provider, Role, Usage
from nwbagent.llm.factory import chosen_provider, get_provider, get_provider_or_rules
from nwbagent.llm.prompts import as_data, render_prompt
from nwbagent.llm.retry import RetryPolicy
from nwbagent.llm.rules_provider import RulesProvider

# Records go to whatever the application configures; without configuration they are dropped rather
# than printed to stderr by logging's last-resort handler.
logging.getLogger("nwbagent.llm").addHandler(logging.NullHandler())

__all__ = [
    "ChatMessage",
    "LLMError",
    "LLMResult",
    "Provider",
    "RetryPolicy",
    "Role",
    "RulesProvider",
    "Usage",
    "as_data",
    "chosen_provider",
    "get_provider",
    "get_provider_or_rules",
    "render_prompt",
]
