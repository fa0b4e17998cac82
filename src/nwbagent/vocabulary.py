"""Every word list a page needs, gathered from its one owner, so the UIs restate none of them.

Served as ``GET /api/vocabulary``. Each list lives with the code it describes (workflow states and actions
in ``agents.workflow``, importance levels in ``inspect.model``, provenance sources in ``metadata.schema``,
download kinds in ``outputs``, format names in NeuroConv's own summaries); this module only assembles them.
"""

from __future__ import annotations

from typing import Any

from nwbagent import outputs
from nwbagent.agents.workflow import ACTIONS, STATE_LABELS, TERMINAL, WITH_RESULT
from nwbagent.inspect.model import BLOCKING, IMPORTANCE_LABELS
from nwbagent.metadata.schema import PRECEDENCE, SOURCE_LABELS


def vocabulary() -> dict[str, Any]:
    from nwbagent.formats import registry

    return {
        "states": [
            {
                "name": state.value,
                "label": label,
                "terminal": state in TERMINAL,
                "with_result": state in WITH_RESULT,
            }
            for state, label in STATE_LABELS.items()
        ],
        "actions": [
            {"name": name, "label": label, "target": target.value if target else None}
            for name, (label, target) in ACTIONS.items()
        ],
        "importance": [
            {"name": name, "label": label, "explanation": why, "blocking": name in BLOCKING}
            for name, (label, why) in IMPORTANCE_LABELS.items()
        ],
        "sources": [
            {"name": name, "label": SOURCE_LABELS[name], "precedence": rank}
            for name, rank in sorted(PRECEDENCE.items(), key=lambda kv: -kv[1])
        ],
        "downloads": [
            {"kind": k.name, "label": k.label, "suffix": k.suffix, "media_type": k.media_type}
            for k in outputs.KINDS
        ],
        "formats": {name: registry.display_name(name) for name in sorted(registry.covered_interface_names())},
    }
