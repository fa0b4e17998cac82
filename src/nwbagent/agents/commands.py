"""What a user can ask the Conversation agent to do: the bus requests, the typed words that are commands,
and how a button press reads in the chat history.

Commands are recognised only from whole messages, never inferred by an LLM: a sentence that mentions
"convert" is content, a message that is "convert" is the button.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from nwbagent.agents.state import State

Command = Literal["preview", "convert", "accept", "improve", "abandon", "choose", "retry"]

#: Whole messages that are commands (the user typing a button's word); anything longer is content.
COMMAND_WORDS: dict[str, Command] = {
    "preview": "preview",
    "convert": "convert",
    "start conversion": "convert",
    "run the conversion": "convert",
    "go": "convert",
    "accept": "accept",
    "accept it": "accept",
    "i accept": "accept",
    "improve": "improve",
    "improve it": "improve",
    "retry": "retry",
    "try again": "retry",
    "abandon": "abandon",
    "cancel": "abandon",
    "stop": "abandon",
}
CHOOSE = re.compile(r"^(?:use|choose|pick)\s+(\S+)$", re.IGNORECASE)
NONE_FITS = re.compile(
    r"^(?:none|none of (?:these|them|those)|neither|no(?:ne)? fits?|not these)[.!]?$", re.I
)


def command_in(text: str) -> Command | None:
    """The command a whole chat message stands for, if any (the service limits typed "convert" like the
    button)."""
    return COMMAND_WORDS.get(text.strip().lower().rstrip(".!"))


class StartRequest(BaseModel):
    source: str
    output_dir: str | None = None


class UserMessageRequest(BaseModel):
    text: str = Field(max_length=20_000)


class CommandRequest(BaseModel):
    command: Command
    argument: str | None = None


class SetMetadataRequest(BaseModel):
    fields: dict[str, Any]


class SetValuesRequest(BaseModel):
    """Values a stream's reader needs that the files lack: ``{unit handle: {argument: value}}``."""

    values: dict[str, dict[str, Any]]


class SelectPartsRequest(BaseModel):
    """Acquisitions or segments to convert ("experiment2", "g0 t1"); an empty list means all of them."""

    parts: list[str] = Field(default_factory=list, max_length=200)


ACTION_WORDS = {
    "preview": "Preview requested",
    "convert": "Conversion requested",
    "accept": "File accepted",
    "improve": "Improvement requested",
    "abandon": "Session abandoned",
    "retry": "Retry requested",
}


def action_text(request: CommandRequest) -> str:
    """A button press as the chat shows it."""
    if request.command == "choose":
        return (
            "Reader chosen: none of these"
            if (request.argument or "").lower() == "none"
            else (f"Reader chosen: {request.argument}")
        )
    return ACTION_WORDS.get(request.command, request.command)


#: States in which the streams of a session can no longer change.
STREAMS_FIXED = frozenset(
    {State.converting, State.inspecting, State.previewing, State.accepted, State.abandoned, State.created}
)
