"""The Atari environments (``openenv/atari-v0``, ``openenv/atari-<game>-v0``)."""
