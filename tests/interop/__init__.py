"""Interop tests: upstream openenv-core clients and servers against ours, on real sockets."""
