"""The failures the command line reports as one line on stderr and an exit code."""

from __future__ import annotations

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTCOME_UNKNOWN",
    "EXIT_USAGE",
    "CommandError",
    "UsageError",
]

#: Everything went as asked.
EXIT_OK = 0
#: The API refused, the network failed, a verification did not match, rows were rejected.
EXIT_FAILURE = 1
#: The command line (or the environment it reads) was wrong; nothing was sent.
EXIT_USAGE = 2
#: A send failed in a way that leaves open whether it went (a timeout, a broken connection,
#: a gateway error): running the command again may send it twice.
EXIT_OUTCOME_UNKNOWN = 3
#: Ctrl-C.
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A problem a command reports as ``twofactor-notify: error: <message>`` (exit 1).

    The message must be free of secrets: it is printed as is.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CommandError):
    """The command line or the environment is wrong; nothing was sent (exit 2)."""

    exit_code = EXIT_USAGE
