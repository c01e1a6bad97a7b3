"""Hyper-parameters: the names a run accepts, their types and ranges, and config.json parsing.

A config.json (platform-api.md section 1) and a request carry two lists of
{"name", "value", "description"}: commonHyperParameters and fineTuneHyperParameters.
Values arrive as strings ("1e-4"); they are parsed to the types below. An unknown name
is refused: a typo must not silently train with a default.
"""

from core.errors import InvalidInput

STRATEGIES = ("LoRA", "FineTune")


def _number(kind, low=None, high=None, low_open=False):
    def parse(name, raw):
        try:
            value = float(str(raw).strip())
            if kind is int:
                if not value.is_integer():
                    raise ValueError
                value = int(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInput(f"hyper-parameter {name}: {raw!r} is not a{'n integer' if kind is int else ' number'}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(f"hyper-parameter {name}: not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise InvalidInput(f"hyper-parameter {name}: must be {'>' if low_open else '>='} {low}")
        if high is not None and value > high:
            raise InvalidInput(f"hyper-parameter {name}: must be <= {high}")
        return value

    return parse


def _choice(*options):
    def parse(name, raw):
        value = str(raw).strip()
        if value not in options:
            raise InvalidInput(f"hyper-parameter {name}: must be one of {', '.join(options)}")
        return value

    return parse


def _boolean(name, raw):
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise InvalidInput(f"hyper-parameter {name}: must be true or false")


def _module_list(name, raw):
    items = raw if isinstance(raw, list) else str(raw).split(",")
    modules = [str(item).strip() for item in items if str(item).strip()]
    for module in modules:
        if not module.replace("_", "").replace(".", "").isalnum() or len(module) > 100:
            raise InvalidInput(f"hyper-parameter {name}: {module!r} is not a module name")
    return modules


COMMON = {
    "learning_rate": _number(float, 0, 10, low_open=True),
    "per_device_train_batch_size": _number(int, 1, 4096),
    "per_device_eval_batch_size": _number(int, 1, 4096),
    "num_train_epochs": _number(float, 0, 10000, low_open=True),
    "max_steps": _number(int, -1, 10_000_000),
    "save_strategy": _choice("no", "steps", "epoch"),
    "save_steps": _number(int, 1, 10_000_000),
    "save_total_limit": _number(int, 1, 1000),
    "eval_strategy": _choice("no", "steps", "epoch"),
    "eval_steps": _number(int, 1, 10_000_000),
    "eval_sample_size": _number(int, 0, 10_000_000),
    "logging_steps": _number(int, 1, 10_000_000),
    "gradient_accumulation_steps": _number(int, 1, 1024),
    "warmup_steps": _number(int, 0, 10_000_000),
    "weight_decay": _number(float, 0, 1),
    "lr_scheduler_type": _choice("linear", "cosine", "constant", "constant_with_warmup", "polynomial"),
    "max_seq_length": _number(int, 8, 32768),
    "seed": _number(int, 0, 2**31 - 1),
    "pretrain_init": _choice("config", "weights"),
}
FINE_TUNE = {
    "lora_r": _number(int, 1, 1024),
    "lora_alpha": _number(int, 1, 4096),
    "lora_dropout": _number(float, 0, 0.99),
    "lora_target_modules": _module_list,
    "merge_adapter": _boolean,
}
ACCEPTED = {**COMMON, **FINE_TUNE}
MAX_ITEMS = 64


def parse_list(items, field):
    """[{"name", "value", "description"}] -> {name: raw value}; unknown names refused."""
    if items in (None, ""):
        return {}
    if not isinstance(items, list):
        raise InvalidInput(f"{field}: must be a list of {{name, value, description}}")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"{field}: at most {MAX_ITEMS} items")
    values = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"{field}[{index}]: must be an object with name and value")
        name = str(item.get("name") or "").strip()
        if not name and not str(item.get("value") or "").strip():
            continue  # the spec's example sends one blank item
        if name not in ACCEPTED:
            raise InvalidInput(
                f"{field}[{index}]: unknown hyper-parameter {name!r}; accepted: {', '.join(sorted(ACCEPTED))}"
            )
        value = item.get("value")
        if value is None or (isinstance(value, str) and len(value) > 1000):
            raise InvalidInput(f"{field}[{index}]: {name} needs a value (at most 1000 characters)")
        values[name] = value
    return values


def check_names(values):
    """{name: raw value} with every name accepted and every value given (at most 1000 characters)."""
    if not isinstance(values, dict) or len(values) > MAX_ITEMS:
        raise InvalidInput(f"at most {MAX_ITEMS} hyper-parameters, by name")
    for name, value in values.items():
        if name not in ACCEPTED:
            raise InvalidInput(f"unknown hyper-parameter {name!r}; accepted: {', '.join(sorted(ACCEPTED))}")
        if value is None or (isinstance(value, str) and len(value) > 1000):
            raise InvalidInput(f"hyper-parameter {name} needs a value (at most 1000 characters)")
    return values


def parse_config(document, source):
    """A config.json document -> (strategy or None, {name: raw value})."""
    if not isinstance(document, dict):
        raise InvalidInput(f"{source}: must be a JSON object with commonHyperParameters and fineTuneHyperParameters")
    strategy = document.get("fineTuneStrategy") or None
    if strategy is not None and strategy not in STRATEGIES:
        raise InvalidInput(f"{source}: fineTuneStrategy must be LoRA or FineTune")
    values = parse_list(document.get("commonHyperParameters"), f"{source} commonHyperParameters")
    values.update(parse_list(document.get("fineTuneHyperParameters"), f"{source} fineTuneHyperParameters"))
    return strategy, values


def typed(values):
    """{name: raw} -> {name: typed value}, each checked against its range."""
    return {name: ACCEPTED[name](name, raw) for name, raw in values.items()}


def as_config_lists(values):
    """Typed values back into the spec's two lists (for the detail answer and the pages)."""
    common = [{"name": n, "value": str(v)} for n, v in values.items() if n in COMMON]
    tuning = [{"name": n, "value": ",".join(v) if isinstance(v, list) else str(v)} for n, v in values.items() if n in FINE_TUNE]
    return common, tuning
