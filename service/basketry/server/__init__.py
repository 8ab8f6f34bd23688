"""The Basketry gRPC server: serves the latest snapshot and swaps in new ones as they appear.

Entry points: `basketry.server.app.create_server` (build and bind, for tests and embedding)
and `basketry.server.app.serve` (run until SIGTERM/SIGINT), reached via `basketry serve`.
"""
