"""Errors the user can fix: each prints as one line naming the file, row or flag."""


class BadInput(Exception):
    """Input that stops a command before any work starts (exit status 2)."""


class PosterError(Exception):
    """One poster that cannot be used; recorded in the failures log and skipped, never fatal.

    `reason` is a short machine-countable word (missing, empty, not-an-image, truncated,
    too-small, too-large, ...); `detail` is free text for the log.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):
        # Crosses from a worker process intact (by default only the joined message would).
        return PosterError, (self.reason, self.detail)
