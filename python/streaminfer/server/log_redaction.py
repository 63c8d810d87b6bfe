"""Secrets never reach the log: query-string credentials are redacted in every record.

Uvicorn logs each WebSocket handshake (accepted or refused) with its full
path and query string through ``uvicorn.error``, and its access log does the
same for HTTP requests, so a browser's ``?api_key=…`` would be written out.
``install`` puts one filter on the handlers that print the server's records
(the root's, uvicorn's) and on the loggers that create them; it rewrites the
record's message and arguments before they are formatted. A parameter whose
decoded name contains ``key``, ``token``, ``secret``, ``password`` or
``auth`` keeps its name and loses its value.

Filters run on whichever thread logs; this one keeps no state.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"key|token|secret|passw|auth", re.IGNORECASE)
# One query parameter: after ``?`` or ``&``, a name, ``=``, and the value up to the next
# separator (a quote or a space ends a path inside a log line).
QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;\s\"'#?]+)=(?P<value>[^&;\s\"'#]*)")
LOGGER_NAMES = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "streaminfer",
    "streaminfer.server",
)


def _replace(match: re.Match[str]) -> str:
    name = match.group("name")
    if not SECRET_NAME.search(unquote_plus(name)):
        return match.group(0)
    return f"{match.group('lead')}{name}={REDACTED}"


def redact(text: str) -> str:
    """``text`` with the value of every secret-named query parameter replaced."""
    if "=" not in text:
        return text
    return QUERY_PARAM.sub(_replace, text)


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("latin-1")).encode("latin-1")
    return value


class RedactSecrets(logging.Filter):
    """Rewrites a record in place (it never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_arg(arg) for key, arg in record.args.items()}
        return True


def install() -> RedactSecrets:
    """Attach the filter to the server's loggers and to every handler they print through.

    Call once logging is configured (after ``uvicorn.Config`` set its handlers up);
    calling it again adds nothing.
    """
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in LOGGER_NAMES)]
    existing = next((f for f in loggers[0].filters if isinstance(f, RedactSecrets)), None)
    redactor = existing or RedactSecrets()
    for logger in loggers:
        targets: list[logging.Filterer] = [logger, *logger.handlers]
        for target in targets:
            if not any(isinstance(f, RedactSecrets) for f in target.filters):
                target.addFilter(redactor)
    return redactor
