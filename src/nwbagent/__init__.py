"""nwbagent: raw electrophysiology in, validated DANDI-ready NWB out.

The core pipeline (``formats``, ``metadata``, ``convert``, ``inspect``) is a plain library: it imports no
web framework and no LLM client, so the CLI, the agents and the service all stand on the same code.
"""

__version__ = "0.1.0"
