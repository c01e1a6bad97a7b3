"""Errors raised by services. Facades turn them into their spec's envelope (core.envelopes)."""


class DomainError(Exception):
    status_code = 400
    exception = "ValidationException"

    def __init__(self, message, status_code=None, exception=None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if exception is not None:
            self.exception = exception


class InvalidInput(DomainError):
    pass


class AuthError(DomainError):
    status_code = 401
    exception = "AuthException"


class Forbidden(DomainError):
    status_code = 403
    exception = "PermissionException"


class NotFound(DomainError):
    status_code = 404
    exception = "NotFoundException"


class Conflict(DomainError):
    status_code = 409
    exception = "ConflictException"


class TooLarge(DomainError):
    status_code = 413
    exception = "TooLargeException"


class QuotaExceeded(DomainError):
    status_code = 403
    exception = "QuotaException"
