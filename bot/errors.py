"""Errors a user can fix: cogs turn them into a short ephemeral answer that says what to do."""


class DomainError(Exception):
    """Base for failures caused by input or state the user can change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing the user named does not exist (in this guild)."""


class Conflict(DomainError):
    """The action would duplicate or contradict existing state."""


class NotAllowed(DomainError):
    """The user lacks the role or standing the action needs."""


class InvalidInput(DomainError):
    """The input is malformed or out of range."""
