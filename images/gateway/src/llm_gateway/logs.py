"""The gateway's logs: one JSON object per line, and never a credential. aiohttp logs a request it cannot parse
with the offending header line, which can be `Authorization: Bearer <key>`: every message and traceback passes
through `redact` before it is written, whichever library logged it."""

from __future__ import annotations

import json
import logging
import re
import sys

_SECRET_HEADER = re.compile(r"(?i)\b(authorization|proxy-authorization|x-api-key|cookie)(\s*[:=]\s*)[^\r\n'\"]*")
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s'\"\\]+")


def redact(text: str) -> str:
    return _BEARER.sub("Bearer [redacted]", _SECRET_HEADER.sub(r"\1\2[redacted]", text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "msg": redact(record.getMessage())}
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
