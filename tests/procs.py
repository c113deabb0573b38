"""Local process helpers for the tests: the same ones the demo uses."""

from llmstack.local import Proc, free_port, http_ok, kill_session, start, tcp_open  # noqa: F401
