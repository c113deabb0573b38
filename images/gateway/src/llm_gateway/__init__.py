"""llm-gateway: an OpenAI-compatible reverse proxy with keys, limits, weighted routing and metrics."""

__version__ = "0.1.0"
