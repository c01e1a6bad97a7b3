"""Errors of the experiments facade and clean API are answered by core.envelopes (the
"experiments" kind: `{"message"}`, plus `errors`, field -> problem, for an invalid parameter table,
and the view's `error_extra`: the task log adds `"data": []`)."""

from .profiles import ParameterErrors


def in_the_table(exc):
    """The spec (and the tools) send the parameter table as `Parameters`: its errors name it so."""
    return exc.under("Parameters") if isinstance(exc, ParameterErrors) else exc
