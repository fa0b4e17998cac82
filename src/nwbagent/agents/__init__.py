"""The three agents (Conversation, Conversion, Evaluation) and the per-session workflow they share."""
