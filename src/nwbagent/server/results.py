"""The finished files of a session and the links to download them, for the results endpoint, the
download endpoint and the session view alike (names and kinds are :mod:`nwbagent.outputs`')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nwbagent import outputs
from nwbagent.agents.state import SessionState
from nwbagent.agents.workflow import WITH_RESULT


def final_file(session: SessionState, kind: str, index: int = 0) -> Path | None:
    """A finished, judged output file of this session (``index`` into its files, one per acquisition),
    never a preview or a cut-off write."""
    files = session.outputs()
    if session.state not in WITH_RESULT or not 0 <= index < len(files) or files[index].verdict is None:
        return None
    path = outputs.path_of(Path(files[index].nwb_path), kind)
    return path if path.is_file() else None


def links(session: SessionState, index: int) -> dict[str, dict[str, Any]]:
    """Kind → name, size, label and URL of every output of file ``index`` that exists."""
    query = f"?file={index}" if index else ""
    found = {}
    for kind in outputs.KINDS:
        path = final_file(session, kind.name, index)
        if path is not None:
            found[kind.name] = {
                "name": path.name,
                "size": path.stat().st_size,
                "label": kind.label,
                "url": f"/api/sessions/{session.id}/download/{kind.name}{query}",
            }
    return found


def downloads(session: SessionState) -> list[dict[str, Any]]:
    """One entry per file of the last conversion: its acquisition, verdict, findings and links."""
    return [
        {
            "index": i,
            "acquisition": out.acquisition,
            "verdict": out.verdict,
            "findings": out.findings,
            "files": links(session, i),
        }
        for i, out in enumerate(session.outputs())
    ]
