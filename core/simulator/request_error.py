"""The refusal every simulator check raises: the HTTP status, ``error.type`` and message the API would send."""

from __future__ import annotations


class RequestError(Exception):
    """A request the API would refuse: HTTP status, ``error.type`` and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def invalid(message: str) -> RequestError:
    """A 400 invalid_request_error with the API's wording."""
    return RequestError(400, "invalid_request_error", message)
