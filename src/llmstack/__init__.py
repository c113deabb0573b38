"""Tooling for the llm-stack Helm charts: render, validate and summarise releases."""

__version__ = "0.1.0"
