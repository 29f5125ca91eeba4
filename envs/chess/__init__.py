"""The chess environment (``openenv/chess-v0``)."""
