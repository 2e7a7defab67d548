"""The embedded simulator: a faithful, stateful implementation of both APIs on one ASGI app."""
