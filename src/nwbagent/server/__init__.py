"""The web service: FastAPI REST + WebSocket over the agents, with persistent sessions and out-of-process
conversions. Nothing below ``nwbagent.server`` is imported by the core pipeline or the agents."""
