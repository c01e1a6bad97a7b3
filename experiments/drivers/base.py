"""The contract between a run and a furnace controller.

A run talks to the furnace only through a `FurnaceDriver`. To plug in real hardware,
subclass it (for instance a Modbus client for the zone controllers and the mass-flow
controllers) and name the class's dotted path in `Furnace.driver` (or in the setting
`EXPERIMENTS_DEFAULT_DRIVER`). The driver must not import Django models: everything it
needs arrives in `DriverConfig`.

Call order during a run (one worker process owns the driver for the whole run):

    driver = DriverClass(config)
    driver.connect()
    driver.set_heaters_enabled(True)
    loop each second:  set_zone_setpoints(a, b); set_flows(ar, h2); read_state(); wait(1.0)
    shutdown:          safe_state(); then read_state()/wait() while purging; set_flows(0, 0)
    driver.close()     # always, also after errors

Rules every driver keeps:
- Units: degrees Celsius, sccm, watts, seconds.
- `set_zone_setpoints` hands setpoints to the zone controllers (their own loops track
  them; the run sends a new setpoint every second along the profile).
- `set_flows` refuses (raises `InterlockError`) H2 above zero while the Ar setpoint is
  below the interlock minimum; the run validates profiles first, this is the last line.
- `safe_state()` must be callable at any time, also right after `connect()` by a
  different process than the one that ran the furnace (recovery after a worker died),
  and must be idempotent: H2 shut off at once, heaters disabled, Ar at the purge flow.
- `wait(seconds)` lets `seconds` of furnace time pass: real hardware sleeps; the
  simulator integrates its physics and sleeps seconds / time_acceleration.
- `read_state()` returns a `FurnaceState`; `snapshot()` returns a JSON-able dict the
  platform stores as `Furnace.last_state` (a simulator resumes from it on connect).
"""

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field


class DriverError(Exception):
    """The controller could not be reached or refused a command."""


class InterlockError(DriverError):
    """A command would break a safety interlock (H2 without enough Ar)."""


@dataclass
class DriverConfig:
    furnace_name: str
    options: dict = field(default_factory=dict)
    time_acceleration: float = 1.0
    saved_state: dict = field(default_factory=dict)
    ar_max_sccm: float = 500.0
    h2_max_sccm: float = 100.0
    min_ar_for_h2_sccm: float = 50.0
    purge_ar_sccm: float = 200.0
    max_temperature_c: float = 1100.0


@dataclass
class FurnaceState:
    t: float  # furnace seconds since connect
    setpoint_a: float
    temperature_a: float
    power_a: float  # heater power, W
    setpoint_b: float
    temperature_b: float
    power_b: float
    ar_setpoint: float
    ar_flow: float  # measured, sccm
    h2_setpoint: float
    h2_flow: float
    heaters_enabled: bool

    def as_dict(self):
        return asdict(self)


class FurnaceDriver(ABC):
    def __init__(self, config: DriverConfig):
        self.config = config

    @abstractmethod
    def connect(self):
        """Open the connection; raise DriverError if the controller does not answer."""

    @abstractmethod
    def read_state(self) -> FurnaceState:
        """Current setpoints, measured temperatures, heater powers and flows."""

    @abstractmethod
    def set_zone_setpoints(self, zone_a_c: float, zone_b_c: float):
        """New temperature setpoints for zones A and B."""

    @abstractmethod
    def set_heaters_enabled(self, enabled: bool):
        """Enable or cut heater power (both zones)."""

    @abstractmethod
    def set_flows(self, ar_sccm: float, h2_sccm: float):
        """New mass-flow controller setpoints; raise InterlockError for H2 without Ar."""

    @abstractmethod
    def safe_state(self):
        """H2 off at once, heaters off, Ar at the purge flow. Idempotent."""

    @abstractmethod
    def wait(self, seconds: float):
        """Let `seconds` of furnace time pass."""

    @abstractmethod
    def close(self):
        """Release the connection. The furnace keeps its last commands."""

    def snapshot(self) -> dict:
        """JSON-able state stored as Furnace.last_state."""
        return self.read_state().as_dict()

    def check_interlock(self, ar_sccm, h2_sccm):
        if h2_sccm > 0 and ar_sccm < self.config.min_ar_for_h2_sccm:
            raise InterlockError(
                f"H2 {h2_sccm:g} sccm refused: Ar setpoint {ar_sccm:g} sccm is below the interlock minimum "
                f"{self.config.min_ar_for_h2_sccm:g} sccm"
            )
