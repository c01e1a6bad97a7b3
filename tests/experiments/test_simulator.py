"""The simulator's physics and controllers, without Django or a worker."""

import math
import time

import pytest

from experiments.drivers import DriverConfig, InterlockError
from experiments.drivers.simulator import DEFAULTS, PID, MassFlowController, SimulatedFurnace
from experiments.profiles import Profile


def make_furnace(**options):
    driver = SimulatedFurnace(DriverConfig("sim", options=options, time_acceleration=1e9))
    driver.connect()
    return driver


def test_pid_output_is_clamped_and_integral_does_not_wind_up():
    pid = PID(kp=10, ki=1, kd=0, out_min=0, out_max=100)
    for _ in range(1000):  # a huge error for a long time: the output saturates
        out = pid.update(setpoint=1000, measured=0, dt=1)
    assert out == 100
    assert pid.integral <= 100  # clamped, not 1000 * 1000
    integral = pid.integral
    pid.update(setpoint=1000, measured=0, dt=1)
    assert pid.integral == integral  # saturated in the error's direction: no further integration
    # Once past the setpoint the output drops at once instead of unwinding a huge integral.
    assert pid.update(setpoint=0, measured=50, dt=1) < 100


def test_zone_without_control_reaches_the_first_order_steady_state():
    driver = make_furnace()
    driver.set_heaters_enabled(False)
    driver.zone_a.temperature = driver.zone_b.temperature = 525.0
    tau = DEFAULTS["heat_capacity_j_per_k"] / DEFAULTS["loss_w_per_k"]
    driver.advance(tau)
    # Both zones cool together (no gradient between them): exp(-1) of the excess remains.
    expected = 25 + 500 * math.exp(-1)
    assert driver.zone_a.temperature == pytest.approx(expected, rel=0.01)


def test_coupling_carries_heat_from_the_hot_zone_to_the_cold_one():
    driver = make_furnace()
    driver.set_heaters_enabled(True)
    driver.set_zone_setpoints(600, 25)
    driver.advance(3600)
    assert driver.zone_a.temperature == pytest.approx(600, abs=1)
    # Zone B's PID cannot cool: coupling holds it above its setpoint, its heater stays off.
    assert driver.zone_b.temperature > 60
    assert driver.zone_b.power == 0


def test_heater_power_is_limited():
    driver = make_furnace()
    driver.set_heaters_enabled(True)
    driver.set_zone_setpoints(1100, 1100)
    driver.advance(5)
    assert driver.zone_a.power == DEFAULTS["max_power_w"]
    rate = (driver.read_state().temperature_a - 25) / 5
    assert rate <= DEFAULTS["max_power_w"] / DEFAULTS["heat_capacity_j_per_k"] + 1e-6


def test_mass_flow_controller_is_first_order():
    mfc = MassFlowController(max_sccm=500, time_constant=1.5)
    mfc.set(200)
    mfc.step(1.5)
    assert mfc.flow == pytest.approx(200 * (1 - math.exp(-1)), rel=1e-6)
    mfc.set(900)
    assert mfc.setpoint == 500  # clamped to the controller's range


def test_ramp_and_hold_is_tracked_within_three_degrees():
    driver = make_furnace()
    driver.set_heaters_enabled(True)
    profile = Profile([0, 1200, 2400], [25, 400, 400])
    errors = []
    for second in range(2401):
        driver.set_zone_setpoints(profile.at(second), 25)
        errors.append(driver.read_state().temperature_a - profile.at(second))
        driver.advance(1)
    rms = math.sqrt(sum(e * e for e in errors) / len(errors))
    assert rms < 3.0
    assert max(abs(e) for e in errors[1500:]) < 1.0  # settled during the hold
    assert max(errors) < 5.0  # overshoot at the end of the ramp


def test_safe_state_closes_hydrogen_at_once_and_cuts_the_heaters():
    driver = make_furnace()
    driver.set_heaters_enabled(True)
    driver.set_zone_setpoints(500, 500)
    driver.set_flows(100, 20)
    driver.advance(60)
    assert driver.read_state().h2_flow > 19
    driver.safe_state()
    state = driver.read_state()
    assert state.h2_flow == 0 and state.h2_setpoint == 0
    assert not state.heaters_enabled and state.power_a == 0 and state.power_b == 0
    assert state.ar_setpoint == driver.config.purge_ar_sccm


def test_hydrogen_without_argon_is_refused_by_the_interlock():
    driver = make_furnace()
    with pytest.raises(InterlockError):
        driver.set_flows(10, 5)
    driver.set_flows(60, 5)
    assert driver.h2.setpoint == 5


def test_time_acceleration_paces_the_wall_clock():
    driver = SimulatedFurnace(DriverConfig("sim", time_acceleration=100))
    driver.connect()
    began = time.monotonic()
    for _ in range(20):
        driver.wait(1.0)
    elapsed = time.monotonic() - began
    assert 0.18 <= elapsed < 1.0  # 20 furnace seconds at x100


def test_a_reconnected_simulator_resumes_from_the_saved_state():
    driver = make_furnace()
    driver.set_heaters_enabled(True)
    driver.set_flows(100, 20)
    driver.set_zone_setpoints(400, 300)
    driver.advance(1800)
    saved = driver.snapshot()
    again = SimulatedFurnace(DriverConfig("sim", time_acceleration=1, saved_state=saved))
    again.connect()
    state = again.read_state()
    assert state.heaters_enabled and state.h2_setpoint == 20
    assert state.temperature_a == pytest.approx(saved["temperature_a"], abs=1)
