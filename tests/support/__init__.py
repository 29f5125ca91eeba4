"""Environments and apps the tests serve on real sockets."""
