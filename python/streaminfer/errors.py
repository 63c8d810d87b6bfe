"""The command line's error: what a handler raises for a one-line message.

``streaminfer <command>`` prints it as ``streaminfer: error: <message>`` and
exits with status 2. Its own module, so that every command can raise it
without importing the CLI.
"""

from __future__ import annotations


class CommandError(Exception):
    """A user-facing failure of a command."""
