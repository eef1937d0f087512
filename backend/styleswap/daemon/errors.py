"""Errors that become `error` replies: each carries its protocol code and a message for humans."""

from __future__ import annotations

from typing import Any

BAD_PARAMS = "bad_params"
BUSY = "busy"
CANCELLED = "cancelled"
ENGINE_FAILED = "engine_failed"
TIMEOUT = "timeout"
UNKNOWN_JOB = "unknown_job"
UNKNOWN_STYLE = "unknown_style"
UNKNOWN_TYPE = "unknown_type"


class RequestError(Exception):
    """A request the daemon refuses or a job that ended badly; `to_params()` is the `error` reply."""

    def __init__(self, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail

    def to_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            params["detail"] = self.detail
        return params
