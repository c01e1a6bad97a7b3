"""Errors raised by services. Facades turn them into their spec's envelope (core.envelopes).

A service names the argument it refuses in its own terms (`field="base_version"`); the message
then reads "base_version: <reason>". A facade (core.facades.FacadeView) renames the field to the
spec's name for it (the `source` of its Input serializer's field), the clean API and the pages
keep the domain name or attach the reason to their own form field.
"""


class DomainError(Exception):
    status_code = 400
    exception = "ValidationException"

    def __init__(self, message, status_code=None, exception=None, *, field=None):
        super().__init__(message)
        self.reason = message
        self.field = field
        self.message = f"{field}: {message}" if field else message
        if status_code is not None:
            self.status_code = status_code
        if exception is not None:
            self.exception = exception

    def rename(self, field):
        """The same error naming its field `field` (a facade's word for the domain's)."""
        self.field = field
        self.message = f"{field}: {self.reason}" if field else self.reason
        return self


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
