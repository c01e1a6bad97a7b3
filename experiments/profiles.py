"""Setpoint profiles and the validation of a parameter table against a furnace's limits.

A profile is piecewise linear: value[i] is reached at time[i], and the last value holds
after the last point. Stored profiles use seconds: {"time": [...], "<value key>": [...]}.
"""

import math
import re
from bisect import bisect_right

from core.errors import InvalidInput

PROFILE_KEYS = {
    "temperature_A": "temperature",
    "temperature_B": "temperature",
    "Ar_flow": "flow",
    "H2_flow": "flow",
}
KNOWN_FIELDS = {"Order", "A", "B", "mass_A", "mass_B", "Substrate", "time_unit", *PROFILE_KEYS}
TIME_UNITS = {"min": 60.0, "s": 1.0}
ORDER_PATTERN = re.compile(r"^[\w.\-]{1,64}\Z")


class ParameterErrors(InvalidInput):
    """Invalid parameters: `errors` maps each field's path in the table ("" for the table) to what
    is wrong with it. A caller that sends the table under a name says so with `under(name)`."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {text}" if field else text for field, text in errors.items()))

    def under(self, name):
        return ParameterErrors({f"{name}.{field}" if field else name: text for field, text in self.errors.items()})


class Profile:
    def __init__(self, times, values):
        self.times = [float(t) for t in times]
        self.values = [float(v) for v in values]

    @classmethod
    def from_stored(cls, stored, key):
        return cls(stored["time"], stored[key])

    @property
    def end(self):
        return self.times[-1]

    def at(self, t):
        if t <= self.times[0]:
            return self.values[0]
        if t >= self.times[-1]:
            return self.values[-1]
        i = bisect_right(self.times, t) - 1
        t0, t1 = self.times[i], self.times[i + 1]
        v0, v1 = self.values[i], self.values[i + 1]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


class Program:
    """The four profiles of a run, evaluated together."""

    def __init__(self, program):
        self.temperature_a = Profile.from_stored(program["temperature_a"], "temperature")
        self.temperature_b = Profile.from_stored(program["temperature_b"], "temperature")
        self.ar = Profile.from_stored(program["ar_flow"], "flow")
        self.h2 = Profile.from_stored(program["h2_flow"], "flow")
        self.duration = float(program["duration_s"])

    def at(self, t):
        return self.temperature_a.at(t), self.temperature_b.at(t), self.ar.at(t), self.h2.at(t)


def _number(value):
    """A finite float from a number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _series(errors, field, items, furnace, label):
    if not isinstance(items, list):
        errors[field] = f"must be a list of numbers ({label})"
        return None
    if len(items) > furnace.max_profile_points:
        errors[field] = f"at most {furnace.max_profile_points} points, got {len(items)}"
        return None
    numbers = [_number(v) for v in items]
    bad = [i for i, v in enumerate(numbers) if v is None]
    if bad:
        errors[field] = f"item {bad[0]} is not a number ({items[bad[0]]!r})"
        return None
    return numbers


def _profile(errors, raw, name, furnace, scale, time_label):
    """Check one profile; return (times in seconds, values) or None."""
    field = f"{name}"
    value_key = PROFILE_KEYS[name]
    if not isinstance(raw, dict):
        errors[field] = f'must be an object {{"time": [...], "{value_key}": [...]}}'
        return None
    unknown = sorted(set(raw) - {"time", value_key})
    if unknown:
        errors[f"{field}.{unknown[0]}"] = f'unknown key; expected "time" and "{value_key}"'
        return None
    times = _series(errors, f"{field}.time", raw.get("time"), furnace, time_label)
    values = _series(errors, f"{field}.{value_key}", raw.get(value_key), furnace, value_key)
    if times is None or values is None:
        return None
    if len(times) != len(values):
        errors[field] = f"time has {len(times)} points but {value_key} has {len(values)}; they must be equal"
        return None
    if len(times) < 2:
        errors[f"{field}.time"] = "needs at least 2 points"
        return None
    if times[0] != 0:
        errors[f"{field}.time"] = f"must start at 0, got {times[0]:g}"
        return None
    for i in range(1, len(times)):
        if times[i] <= times[i - 1]:
            errors[f"{field}.time"] = f"must be strictly increasing: time[{i}]={times[i]:g} after {times[i - 1]:g}"
            return None
    return [t * scale for t in times], values


def _check_temperatures(errors, name, times, values, furnace):
    field = f"{name}.temperature"
    low, high = furnace.min_temperature_c, furnace.max_temperature_c
    for i, v in enumerate(values):
        if not low <= v <= high:
            errors[field] = f"temperature[{i}]={v:g} °C is outside the furnace's range {low:g} to {high:g} °C"
            return
    if values[0] > furnace.max_initial_temperature_c:
        errors[field] = (
            f"must start at or below {furnace.max_initial_temperature_c:g} °C (the furnace starts cold), "
            f"got {values[0]:g} °C"
        )
        return
    limit = furnace.max_ramp_rate_c_per_min
    for i in range(1, len(values)):
        rate = abs(values[i] - values[i - 1]) / ((times[i] - times[i - 1]) / 60.0)
        if rate > limit + 1e-9:
            errors[field] = (
                f"ramp from point {i - 1} to {i} is {rate:.3g} °C/min; the furnace allows at most {limit:g} °C/min"
            )
            return


def _check_flows(errors, name, values, maximum):
    field = f"{name}.flow"
    for i, v in enumerate(values):
        if not 0 <= v <= maximum:
            errors[field] = f"flow[{i}]={v:g} sccm is outside the mass-flow controller's range 0 to {maximum:g} sccm"
            return


def _check_interlock(errors, ar, h2, furnace, scale, time_label):
    """H2 may flow only while Ar is at or above the interlock minimum.

    Both profiles are linear between the union of their breakpoints, so Ar's minimum on
    an interval is at its ends; any interval where H2 is above zero needs Ar high enough
    at both ends.
    """
    minimum = furnace.min_ar_for_h2_sccm
    points = sorted(set(ar.times) | set(h2.times))
    for t0, t1 in zip(points, points[1:] + [points[-1]]):
        if h2.at(t0) > 0 or h2.at(t1) > 0:
            for t in (t0, t1):
                if ar.at(t) < minimum:
                    errors["H2_flow"] = (
                        f"hydrogen flows around time {t / scale:g} {time_label} while Ar_flow is {ar.at(t):g} sccm; "
                        f"the interlock needs Ar at least {minimum:g} sccm whenever H2 is above 0"
                    )
                    return


def _precursor(errors, field, value, known):
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    if not isinstance(value, str):
        errors[field] = "must be a precursor name (string)"
        return None
    match = known.get(value.strip().lower())
    if match is None:
        names = ", ".join(sorted(known.values())) or "none configured"
        errors[field] = f"unknown precursor {value.strip()!r}; known precursors: {names}"
        return None
    return match


def _mass(errors, field, value, furnace, precursor):
    blank = value is None or (isinstance(value, str) and not value.strip())
    if not precursor:
        if not blank and _number(value) not in (None, 0.0):
            errors[field] = "given without a precursor"
        return None
    number = _number(value)
    if blank or number is None:
        errors[field] = "must be a positive number of milligrams"
        return None
    if number <= 0:
        errors[field] = f"must be positive (mg), got {number:g}"
        return None
    if number > furnace.max_precursor_mass_mg:
        errors[field] = f"{number:g} mg exceeds the furnace's limit of {furnace.max_precursor_mass_mg:g} mg"
        return None
    return number


def validate_parameters(parameters, furnace, known_precursors):
    """The normalised program of a parameter table, or ParameterErrors naming each bad field.

    `known_precursors` maps lower-case names to their canonical spelling.
    """
    errors = {}
    if not isinstance(parameters, dict):
        raise ParameterErrors({"": "must be an object with Order, A, B, mass_A, mass_B, Substrate and profiles"})
    for key in sorted(set(parameters) - KNOWN_FIELDS):
        errors[f"{key}"] = f"unknown field; expected one of {', '.join(sorted(KNOWN_FIELDS))}"

    time_unit = parameters.get("time_unit", "min") or "min"
    if not isinstance(time_unit, str) or time_unit not in TIME_UNITS:
        errors["time_unit"] = "must be 'min' (default) or 's'"
        time_unit = "min"
    scale = TIME_UNITS[time_unit]

    order = parameters.get("Order", "")
    if order is None:
        order = ""
    if isinstance(order, (int, float)) and not isinstance(order, bool):
        order = str(order)
    if not isinstance(order, str) or (order.strip() and not ORDER_PATTERN.match(order.strip())):
        errors["Order"] = "must be up to 64 letters, digits, '.', '_' or '-' (empty: one is generated)"
        order = ""
    order = order.strip()

    a = _precursor(errors, "A", parameters.get("A"), known_precursors)
    b = _precursor(errors, "B", parameters.get("B"), known_precursors)
    if a == "" and b == "" and "A" not in errors:
        errors["A"] = "at least one precursor (A or B) is required"
    mass_a = _mass(errors, "mass_A", parameters.get("mass_A"), furnace, a)
    mass_b = _mass(errors, "mass_B", parameters.get("mass_B"), furnace, b)

    substrate = parameters.get("Substrate")
    if not isinstance(substrate, str) or not substrate.strip():
        errors["Substrate"] = "required: the substrate's name, e.g. SiO2/Si"
    elif len(substrate.strip()) > 100:
        errors["Substrate"] = "at most 100 characters"

    profiles = {}
    for name in PROFILE_KEYS:
        if name not in parameters:
            errors[f"{name}"] = "required"
            continue
        checked = _profile(errors, parameters[name], name, furnace, scale, time_unit)
        if checked is not None:
            profiles[name] = checked
    for name in ("temperature_A", "temperature_B"):
        if name in profiles:
            _check_temperatures(errors, name, *profiles[name], furnace)
    if "Ar_flow" in profiles:
        _check_flows(errors, "Ar_flow", profiles["Ar_flow"][1], furnace.ar_max_sccm)
    if "H2_flow" in profiles:
        _check_flows(errors, "H2_flow", profiles["H2_flow"][1], furnace.h2_max_sccm)
    if "Ar_flow" in profiles and "H2_flow" in profiles and not any(k.startswith("H2_flow") for k in errors):
        _check_interlock(
            errors, Profile(*profiles["Ar_flow"]), Profile(*profiles["H2_flow"]), furnace, scale, time_unit
        )
    if len(profiles) == len(PROFILE_KEYS):
        duration = max(times[-1] for times, _ in profiles.values())
        if duration > furnace.max_duration_minutes * 60:
            errors[""] = (
                f"program lasts {duration / 60:g} min; the furnace allows at most {furnace.max_duration_minutes:g} min"
            )
    if errors:
        raise ParameterErrors(errors)

    def stored(name):
        times, values = profiles[name]
        return {"time": times, PROFILE_KEYS[name]: values}

    return {
        "order": order,
        "precursor_a": a,
        "precursor_b": b,
        "mass_a_mg": mass_a,
        "mass_b_mg": mass_b,
        "substrate": substrate.strip(),
        "temperature_a": stored("temperature_A"),
        "temperature_b": stored("temperature_B"),
        "ar_flow": stored("Ar_flow"),
        "h2_flow": stored("H2_flow"),
        "duration_s": max(times[-1] for times, _ in profiles.values()),
    }
