"""A physical simulator of a two-zone tube furnace with its controllers.

Each zone is a lumped thermal mass:

    C dT/dt = P - k_loss (T - T_ambient) - k_couple (T - T_other_zone)

with heater power P between 0 and `max_power_w`, set by a PID controller (derivative on
the measurement, conditional integration against wind-up) tracking the zone setpoint.
Each mass-flow controller follows its setpoint with a first-order lag; the H2 line
has a shut-off valve that `safe_state()` closes at once. Furnace time runs
`time_acceleration` times faster than the wall clock.

Every parameter can be overridden per furnace in `Furnace.driver_options` (see DEFAULTS).
"""

import math
import random
import time

from .base import FurnaceDriver, FurnaceState

DEFAULTS = {
    "ambient_c": 25.0,
    "heat_capacity_j_per_k": 1500.0,  # per zone
    "loss_w_per_k": 1.0,  # to ambient, per zone
    "coupling_w_per_k": 0.3,  # between the zones
    "max_power_w": 1500.0,  # per zone heater
    "kp_w_per_k": 150.0,
    "ki_w_per_k_s": 2.0,
    "kd_w_s_per_k": 20.0,
    "mfc_time_constant_s": 1.5,
    "step_s": 0.25,  # integration step
    "sensor_noise_c": 0.0,  # standard deviation of the thermocouple reading
    "seed": 0,
    "max_resume_s": 6 * 3600.0,  # furnace time simulated between runs, at most
}


class PID:
    """PID with derivative on measurement and conditional integration (anti-windup)."""

    def __init__(self, kp, ki, kd, out_min=0.0, out_max=1.0):
        self.kp, self.ki, self.kd = kp, ki, kd
        self.out_min, self.out_max = out_min, out_max
        self.integral = 0.0
        self._previous = None

    def reset(self):
        self.integral = 0.0
        self._previous = None

    def update(self, setpoint, measured, dt):
        error = setpoint - measured
        rate = 0.0 if self._previous is None else (measured - self._previous) / dt
        self._previous = measured
        base = self.kp * error - self.kd * rate
        candidate = self.integral + self.ki * error * dt
        unclamped = base + candidate
        saturating_high = unclamped > self.out_max and error > 0
        saturating_low = unclamped < self.out_min and error < 0
        if not (saturating_high or saturating_low):
            self.integral = min(max(candidate, self.out_min), self.out_max)
        return min(max(base + self.integral, self.out_min), self.out_max)


class Zone:
    def __init__(self, params, temperature):
        self.capacity = params["heat_capacity_j_per_k"]
        self.loss = params["loss_w_per_k"]
        self.max_power = params["max_power_w"]
        self.temperature = temperature
        self.setpoint = temperature
        self.power = 0.0
        self.pid = PID(params["kp_w_per_k"], params["ki_w_per_k_s"], params["kd_w_s_per_k"], 0.0, self.max_power)

    def control(self, enabled, dt):
        if enabled:
            self.power = self.pid.update(self.setpoint, self.temperature, dt)
        else:
            self.power = 0.0
            self.pid.reset()

    def derivative(self, ambient, other_temperature, coupling):
        flow = self.power - self.loss * (self.temperature - ambient) - coupling * (self.temperature - other_temperature)
        return flow / self.capacity


class MassFlowController:
    def __init__(self, max_sccm, time_constant, flow=0.0, setpoint=0.0):
        self.max_sccm = max_sccm
        self.time_constant = max(time_constant, 1e-6)
        self.flow = flow
        self.setpoint = setpoint

    def set(self, sccm):
        self.setpoint = min(max(float(sccm), 0.0), self.max_sccm)

    def step(self, dt):
        self.flow += (self.setpoint - self.flow) * (1.0 - math.exp(-dt / self.time_constant))
        if abs(self.flow) < 1e-6:
            self.flow = 0.0


class SimulatedFurnace(FurnaceDriver):
    def __init__(self, config):
        super().__init__(config)
        self.params = {**DEFAULTS, **{k: v for k, v in (config.options or {}).items() if k in DEFAULTS}}
        ambient = self.params["ambient_c"]
        self.zone_a = Zone(self.params, ambient)
        self.zone_b = Zone(self.params, ambient)
        tau = self.params["mfc_time_constant_s"]
        self.ar = MassFlowController(config.ar_max_sccm, tau)
        self.h2 = MassFlowController(config.h2_max_sccm, tau)
        self.heaters_enabled = False
        self.t = 0.0
        self.connected = False
        self._random = random.Random(self.params["seed"])
        self._wall_start = None
        self._furnace_elapsed = 0.0

    # --- FurnaceDriver -------------------------------------------------------
    def connect(self):
        self._restore(self.config.saved_state or {})
        self.connected = True
        self._wall_start = time.monotonic()
        self._furnace_elapsed = 0.0

    def read_state(self):
        noise = self.params["sensor_noise_c"]

        def measured(zone):
            return zone.temperature + (self._random.gauss(0.0, noise) if noise > 0 else 0.0)

        return FurnaceState(
            t=self.t,
            setpoint_a=self.zone_a.setpoint,
            temperature_a=measured(self.zone_a),
            power_a=self.zone_a.power,
            setpoint_b=self.zone_b.setpoint,
            temperature_b=measured(self.zone_b),
            power_b=self.zone_b.power,
            ar_setpoint=self.ar.setpoint,
            ar_flow=self.ar.flow,
            h2_setpoint=self.h2.setpoint,
            h2_flow=self.h2.flow,
            heaters_enabled=self.heaters_enabled,
        )

    def set_zone_setpoints(self, zone_a_c, zone_b_c):
        self.zone_a.setpoint = float(zone_a_c)
        self.zone_b.setpoint = float(zone_b_c)

    def set_heaters_enabled(self, enabled):
        self.heaters_enabled = bool(enabled)
        if not self.heaters_enabled:
            for zone in (self.zone_a, self.zone_b):
                zone.power = 0.0
                zone.pid.reset()

    def set_flows(self, ar_sccm, h2_sccm):
        self.check_interlock(ar_sccm, h2_sccm)
        self.ar.set(ar_sccm)
        self.h2.set(h2_sccm)

    def safe_state(self):
        # The H2 shut-off valve closes: the flow stops at once, not with the MFC's lag.
        self.h2.set(0.0)
        self.h2.flow = 0.0
        self.set_heaters_enabled(False)
        self.ar.set(self.config.purge_ar_sccm)

    def wait(self, seconds):
        self.advance(seconds)
        self._furnace_elapsed += seconds
        target = self._wall_start + self._furnace_elapsed / self.config.time_acceleration
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:
            # Far behind the wall clock (slow machine): pace from now on instead of bursting.
            self._wall_start -= delay

    def close(self):
        self.connected = False

    def snapshot(self):
        state = self.read_state().as_dict()
        state.update(
            saved_at=time.time(),
            time_acceleration=self.config.time_acceleration,
            integral_a=self.zone_a.pid.integral,
            integral_b=self.zone_b.pid.integral,
        )
        return state

    # --- physics ---------------------------------------------------------------
    def advance(self, seconds, step=None):
        """Integrate the physics over `seconds` of furnace time (no sleeping)."""
        step = step or self.params["step_s"]
        remaining = float(seconds)
        ambient = self.params["ambient_c"]
        coupling = self.params["coupling_w_per_k"]
        while remaining > 1e-9:
            dt = min(step, remaining)
            self.zone_a.control(self.heaters_enabled, dt)
            self.zone_b.control(self.heaters_enabled, dt)
            da = self.zone_a.derivative(ambient, self.zone_b.temperature, coupling)
            db = self.zone_b.derivative(ambient, self.zone_a.temperature, coupling)
            self.zone_a.temperature += da * dt
            self.zone_b.temperature += db * dt
            self.ar.step(dt)
            self.h2.step(dt)
            self.t += dt
            remaining -= dt

    def _restore(self, saved):
        """Resume from the state stored after the last run, letting the time in between pass."""
        if not saved or "temperature_a" not in saved:
            return
        self.zone_a.temperature = float(saved["temperature_a"])
        self.zone_b.temperature = float(saved["temperature_b"])
        self.zone_a.setpoint = float(saved.get("setpoint_a", self.zone_a.temperature))
        self.zone_b.setpoint = float(saved.get("setpoint_b", self.zone_b.temperature))
        self.zone_a.pid.integral = float(saved.get("integral_a", 0.0))
        self.zone_b.pid.integral = float(saved.get("integral_b", 0.0))
        self.heaters_enabled = bool(saved.get("heaters_enabled", False))
        self.ar.setpoint = float(saved.get("ar_setpoint", 0.0))
        self.ar.flow = float(saved.get("ar_flow", 0.0))
        self.h2.setpoint = float(saved.get("h2_setpoint", 0.0))
        self.h2.flow = float(saved.get("h2_flow", 0.0))
        saved_at = saved.get("saved_at")
        if saved_at:
            acceleration = float(saved.get("time_acceleration", self.config.time_acceleration))
            elapsed = max(0.0, time.time() - float(saved_at)) * acceleration
            elapsed = min(elapsed, self.params["max_resume_s"])
            if elapsed > 0:
                self.advance(elapsed, step=max(self.params["step_s"], min(2.0, elapsed / 2000)))
        self.t = 0.0
