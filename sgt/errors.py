from core.errors import DomainError


class NotTrained(DomainError):
    """The model has no trained weights yet (SGT answers every error with status 400)."""

    status_code = 409
    exception = "NotTrainedException"
