"""Stripe's error answers: one exception carrying the HTTP status and the error JSON fields."""

from __future__ import annotations


class ApiError(Exception):
    """An error the server answers as `{"error": {...}}` with `status`."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param

    def body(self) -> dict:
        error: dict = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(object_type: str, obj_id: str, param: str = "id") -> ApiError:
    return ApiError(404, f"No such {object_type}: '{obj_id}'", code="resource_missing", param=param)


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, code="parameter_invalid" if param else None, param=param)
