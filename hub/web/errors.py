"""API errors with stable codes, rendered as `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer; `code` is stable and documented, `message` is for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
