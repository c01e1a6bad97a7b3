"""What a model folder says about itself: structure from an HF config.json, parameter
count from safetensors headers (the weights themselves are never read)."""

import json
import logging
import math
import posixpath

logger = logging.getLogger(__name__)

SAFETENSORS_HEADER_MAX = 100 * 1024 * 1024
CONFIG_MAX_BYTES = 4 * 1024 * 1024


def safetensors_parameter_count(handle):
    """Parameters in a .safetensors file: the sum of its tensors' shapes, from the header only."""
    raw = handle.read(8)
    if len(raw) != 8:
        raise ValueError("not a safetensors file: shorter than its header length")
    length = int.from_bytes(raw, "little")
    if length <= 0 or length > SAFETENSORS_HEADER_MAX:
        raise ValueError(f"not a safetensors file: header length {length}")
    header = json.loads(handle.read(length))
    if not isinstance(header, dict):
        raise ValueError("not a safetensors file: header is not an object")
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"tensor {name!r} has no valid shape")
        total += math.prod(shape)
    return total


def format_scale(count):
    """124439808 -> "124.4M", 1500 -> "1.5K"."""
    if count is None:
        return ""
    for unit, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.1f}".rstrip("0").rstrip(".") + unit
    return str(count)


def _shallowest(paths, name):
    found = [p for p in paths if posixpath.basename(p) == name]
    return min(found, key=lambda p: (p.count("/"), p)) if found else None


def _read_json(opener, path):
    with opener(path) as handle:
        data = handle.read(CONFIG_MAX_BYTES + 1)
    if len(data) > CONFIG_MAX_BYTES:
        raise ValueError(f"{path} is larger than {CONFIG_MAX_BYTES} bytes")
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError(f"{path} is not a JSON object")
    return value


def inspect_model(paths, opener):
    """{"parameter_count", "scale", "model_structure", "model_type", "notes"} of a set of files.

    `paths` are the files' relative paths; `opener(path)` opens one for binary reading.
    Unreadable configs or weights are noted, not fatal: a folder need not be an HF model.
    """
    result = {"parameter_count": None, "scale": "", "model_structure": "", "model_type": "", "notes": []}
    config_path = _shallowest(paths, "config.json")
    adapter_path = _shallowest(paths, "adapter_config.json")
    try:
        if config_path:
            config = _read_json(opener, config_path)
            architectures = config.get("architectures")
            model_type = config.get("model_type")
            result["model_type"] = str(model_type)[:64] if isinstance(model_type, str) else ""
            if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
                result["model_structure"] = ", ".join(str(a) for a in architectures)[:200]
            else:
                result["model_structure"] = result["model_type"]
        elif adapter_path:
            adapter = _read_json(opener, adapter_path)
            peft_type = str(adapter.get("peft_type") or "adapter")
            base = adapter.get("base_model_name_or_path")
            result["model_structure"] = (f"{peft_type} adapter of {base}" if base else f"{peft_type} adapter")[:200]
    except (ValueError, UnicodeDecodeError) as exc:
        result["notes"].append(f"config not read: {exc}")
    weights = sorted(p for p in paths if p.endswith(".safetensors"))
    if weights:
        total = 0
        try:
            for path in weights:
                with opener(path) as handle:
                    total += safetensors_parameter_count(handle)
            result["parameter_count"] = total
            result["scale"] = format_scale(total)
        except (ValueError, UnicodeDecodeError) as exc:
            result["notes"].append(f"parameters not counted: {exc}")
    return result
