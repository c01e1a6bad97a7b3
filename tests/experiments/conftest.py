import pytest
from rest_framework.test import APIClient

from core.models import ACTIVE_STATUSES
from core.services import request_cancel
from experiments.models import SIMULATOR_DRIVER, ExperimentRun, Furnace, Precursor
from tests.factories import UserFactory
from tests.worker import wait_until

# Furnace seconds per wall second in tests: a 40-minute program runs in about 1.2 s.
TEST_ACCELERATION = 2000.0


def ramp_and_hold(order="RAMP-1", hold_minutes=40, **overrides):
    """Zone A 25 -> 400 °C in 20 min, zone B 25 -> 300 °C in 15 min, both held; H2 after 20 min."""
    parameters = {
        "Order": order,
        "A": "S",
        "B": "MoO3",
        "mass_A": "150",
        "mass_B": 5,
        "Substrate": "SiO2/Si",
        "temperature_A": {"temperature": [25, 400, 400], "time": [0, 20, hold_minutes]},
        "temperature_B": {"temperature": [25, 300, 300], "time": [0, 15, hold_minutes]},
        "Ar_flow": {"time": [0, hold_minutes], "flow": [100, 100]},
        "H2_flow": {"time": [0, 20, 21, hold_minutes], "flow": [0, 0, 20, 20]},
    }
    parameters.update(overrides)
    return parameters


@pytest.fixture
def furnace(db):
    for name in ("S", "MoO3", "WO3", "Se"):
        Precursor.objects.get_or_create(name=name, defaults={"formula": name})
    return Furnace.objects.create(
        name="test-furnace", driver=SIMULATOR_DRIVER, time_acceleration=TEST_ACCELERATION, is_default=True
    )


def _client_for(user):
    from accounts.services import issue_tokens

    client = APIClient()
    access, _ = issue_tokens(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.fixture
def operator(db):
    return UserFactory(username="olga", role="operator")


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def researcher_client(user):
    return _client_for(user)


@pytest.fixture
def stop_runs_after():
    """Leave no run behind for the next test: stop active runs and wait until they end."""
    yield
    for run in ExperimentRun.objects.filter(status__in=ACTIVE_STATUSES):
        request_cancel(run)
    wait_until(
        lambda: not ExperimentRun.objects.filter(status__in=ACTIVE_STATUSES).exists(), timeout=60,
        message="runs to end",
    )
