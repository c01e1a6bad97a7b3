"""Demo data: a simulated two-zone furnace with sensible limits and a MoS2 parameter set."""

from .models import SIMULATOR_DRIVER, Experiment, Furnace, Precursor
from .profiles import validate_parameters
from .selectors import known_precursors

PRECURSORS = [
    ("MoO3", "MoO3", "molybdenum trioxide powder"),
    ("S", "S", "sulfur powder"),
    ("WO3", "WO3", "tungsten trioxide powder"),
    ("Se", "Se", "selenium powder"),
    ("NaCl", "NaCl", "growth promoter"),
]

DEMO_PARAMETERS = {
    "Order": "DEMO-MoS2",
    "A": "S",
    "B": "MoO3",
    "mass_A": 150,
    "mass_B": 5,
    "Substrate": "SiO2/Si",
    "temperature_A": {"temperature": [25, 25, 200, 200], "time": [0, 25, 35, 50]},
    "temperature_B": {"temperature": [25, 700, 700], "time": [0, 35, 50]},
    "Ar_flow": {"time": [0, 50], "flow": [100, 100]},
    "H2_flow": {"time": [0, 35, 36, 50], "flow": [0, 0, 10, 10]},
}


def run(stdout):
    for name, formula, description in PRECURSORS:
        Precursor.objects.update_or_create(name=name, defaults={"formula": formula, "description": description})
    furnace, created = Furnace.objects.get_or_create(
        name="tube-furnace-1",
        defaults={
            "description": "Simulated two-zone CVD tube furnace (zone A upstream, zone B, substrate downstream)",
            "driver": SIMULATOR_DRIVER,
            "time_acceleration": 60.0,
            "is_default": not Furnace.objects.filter(is_default=True).exists(),
        },
    )
    program = validate_parameters(DEMO_PARAMETERS, furnace, known_precursors())
    program.pop("order")
    experiment, _ = Experiment.objects.update_or_create(
        experiment_id=DEMO_PARAMETERS["Order"],
        defaults={**program, "order": DEMO_PARAMETERS["Order"], "furnace": furnace, "raw_parameters": DEMO_PARAMETERS},
    )
    if furnace.loaded_experiment_id is None:
        Furnace.objects.filter(pk=furnace.pk).update(loaded_experiment=experiment)
    stdout.write(
        f"experiments: furnace {furnace.name} ({'created' if created else 'kept'}), {len(PRECURSORS)} precursors, "
        f"demo parameters {experiment.experiment_id}\n"
    )
