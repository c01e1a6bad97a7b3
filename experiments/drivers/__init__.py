"""Furnace drivers: the abstract contract (`base`) and the shipped simulator (`simulator`)."""

from django.utils.module_loading import import_string

from .base import DriverConfig, DriverError, FurnaceDriver, FurnaceState, InterlockError

__all__ = ["DriverConfig", "DriverError", "FurnaceDriver", "FurnaceState", "InterlockError", "driver_for"]


def driver_for(furnace):
    """A driver instance for a Furnace record (not yet connected)."""
    try:
        cls = import_string(furnace.driver_path)
    except ImportError as exc:
        raise DriverError(f"furnace {furnace.name}: driver {furnace.driver_path!r} cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, FurnaceDriver)):
        raise DriverError(f"furnace {furnace.name}: {furnace.driver_path!r} is not a FurnaceDriver")
    config = DriverConfig(
        furnace_name=furnace.name,
        options=dict(furnace.driver_options or {}),
        time_acceleration=max(float(furnace.time_acceleration or 1.0), 1e-6),
        saved_state=dict(furnace.last_state or {}),
        ar_max_sccm=furnace.ar_max_sccm,
        h2_max_sccm=furnace.h2_max_sccm,
        min_ar_for_h2_sccm=furnace.min_ar_for_h2_sccm,
        purge_ar_sccm=furnace.purge_ar_sccm,
        max_temperature_c=furnace.max_temperature_c,
    )
    return cls(config)
