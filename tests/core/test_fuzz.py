"""schemathesis over the whole OpenAPI schema (/api/schema/, drf-spectacular): every
operation, called as a signed-in researcher with generated (valid and invalid) input,
never answers a 5xx.

Bounded for CI (about two minutes on two cores): schemathesis' coverage cases (boundary
and wrong-type values for every field, about 6,000 calls) plus a few random examples per
operation, no shrinking, no example database; the Django app is called in-process through
WSGI (no server). FUZZ_EXAMPLES raises the random examples; FUZZ_PATH=/api/login (one
exact path) fuzzes that path only, e.g. FUZZ_EXAMPLES=200 while fixing one.
"""

import importlib
import os
import pkgutil
import sys

import hypothesis
import pytest
import schemathesis
import schemathesis.generation.body_overrides  # noqa: F401  (imported lazily deep in a draw otherwise)
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis.internal.lambda_sources import lambda_description
from schemathesis.generation.jsonschema import strategy as jsonschema_strategy

from accounts.services import issue_tokens
from experiments.models import SIMULATOR_DRIVER, Furnace, Precursor
from tests.factories import UserFactory

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))


def import_all(package, skip=()):
    """Import every module of `package` now. pytest rewrites the asserts of every module of a
    plugin's distribution (Hypothesis and schemathesis are pytest plugins) by parsing its source
    with `ast` on first import; a module that Hypothesis imports lazily deep inside a draw (for
    example `hypothesis.strategies._internal.random`) is then parsed near the recursion limit,
    where CPython 3.11 fails with "SystemError: AST constructor recursion depth mismatch"."""
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if any(module.name.startswith(prefix) for prefix in skip):
            continue
        try:
            imported = importlib.import_module(module.name)
        except Exception:  # optional extras (numpy, pandas, ...) that this project does not use
            continue
        if module.ispkg:
            import_all(imported, skip)


import_all(hypothesis, skip=("hypothesis.extra",))
import_all(schemathesis, skip=("schemathesis.cli", "schemathesis.pytest"))

# Hypothesis describes lambdas by parsing their module's source with `ast`; done deep inside a
# draw, CPython 3.11 can fail that with "SystemError: AST constructor recursion depth mismatch".
# Parsing schemathesis' strategy module here, at a shallow depth, fills Hypothesis' cache.
lambda_description(jsonschema_strategy._TYPE_CHECKS["null"])

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
if os.environ.get("FUZZ_PATH"):
    schema = schema.include(path=os.environ["FUZZ_PATH"])


@pytest.fixture
def recursion_room():
    """Hypothesis parses strategy sources with `ast` deep inside a draw; near the default
    recursion limit CPython 3.11 reports that as "AST constructor recursion depth mismatch"."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 4000))
    yield
    sys.setrecursionlimit(previous)


@pytest.fixture
def keep_connection():
    """As Django's test client does: the test's transaction must survive each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def researcher(db, keep_connection, recursion_room):
    # A furnace and precursors, so that experiment input reaches its validators.
    for name in ("S", "MoO3"):
        Precursor.objects.create(name=name, formula=name)
    Furnace.objects.create(name="fuzz-furnace", driver=SIMULATOR_DRIVER, is_default=True)
    user = UserFactory(username="fuzzer")
    access, _ = issue_tokens(user)
    return {"Authorization": f"Bearer {access}"}


@pytest.mark.django_db
@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error(case, researcher):
    response = case.call(headers=researcher)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}\n"
        f"query={case.query!r} body={str(case.body)[:500]!r}\n{response.text[:2000]}"
    )
