"""llm-serving: what every llm-stack model pod runs (fetch, vLLM standalone, Ray Serve app)."""

__version__ = "0.1.0"
