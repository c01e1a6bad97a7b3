"""Write serving/kserve_schema/inferenceservice.schema.json: KServe's InferenceService as a JSON Schema.

    .venv/bin/pip download kserve==0.21.0 --no-deps -d /tmp/kserve
    .venv/bin/python serving/kserve_schema/make_schema.py /tmp/kserve/kserve-0.21.0-py3-none-any.whl

The KServe SDK's models (openapi-generator classes: each one's `openapi_types` and
`attribute_map`) are read from the wheel without importing it (the SDK pulls in a model
server: fastapi, grpcio, pandas...), and the Kubernetes types they use from the installed
`kubernetes` client. Every type becomes a definition listing all of its fields with their JSON
names and types, and refusing any other field, so a manifest with a misspelt or misplaced field,
or a value of the wrong type, fails validation (tests/serving/test_kserve.py).
"""

import ast
import json
import re
import sys
import zipfile
from pathlib import Path

import kubernetes.client

OUT = Path(__file__).with_name("inferenceservice.schema.json")
ROOT_TYPE = "V1beta1InferenceService"
PRIMITIVES = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string"},
    "date": {"type": "string"},
    "object": {},
}


def sdk_models(wheel):
    """{class name: (openapi_types, attribute_map)} of the wheel's kserve/models/*.py."""
    models = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not re.match(r"kserve/models/\w+\.py$", name):
                continue
            tree = ast.parse(archive.read(name))
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                found = {}
                for item in node.body:
                    if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name):
                        if item.targets[0].id in ("openapi_types", "attribute_map"):
                            found[item.targets[0].id] = ast.literal_eval(item.value)
                if len(found) == 2:
                    models[node.name] = (found["openapi_types"], found["attribute_map"])
    return models


def kubernetes_model(name):
    cls = getattr(kubernetes.client, name, None)
    if cls is None or not hasattr(cls, "openapi_types"):
        return None
    return cls.openapi_types, cls.attribute_map


def build(wheel):
    sdk = sdk_models(wheel)
    definitions = {}
    unresolved = set()
    pending = [ROOT_TYPE]

    def type_schema(type_name):
        if type_name in PRIMITIVES:
            return dict(PRIMITIVES[type_name])
        match = re.fullmatch(r"list\[(.+)\]", type_name)
        if match:
            return {"type": "array", "items": type_schema(match.group(1))}
        match = re.fullmatch(r"dict\((\w+), (.+)\)", type_name)
        if match:
            return {"type": "object", "additionalProperties": type_schema(match.group(2))}
        pending.append(type_name)
        return {"$ref": f"#/definitions/{type_name}"}

    while pending:
        name = pending.pop()
        if name in definitions:
            continue
        model = sdk.get(name) or kubernetes_model(name)
        if model is None:  # named by the SDK but not shipped in it (Knative's traffic target in a status)
            unresolved.add(name)
            definitions[name] = {}
            continue
        types, names = model
        definitions[name] = {}  # placeholder against cycles
        definitions[name] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {names[attr]: type_schema(t) for attr, t in sorted(types.items())},
        }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "KServe serving.kserve.io/v1beta1 InferenceService (from the KServe SDK's models)",
        "$ref": f"#/definitions/{ROOT_TYPE}",
        "unresolved": sorted(unresolved),
        "definitions": dict(sorted(definitions.items())),
    }


def main():
    wheel = Path(sys.argv[1])
    schema = build(wheel)
    schema["source"] = wheel.name
    OUT.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: {len(schema['definitions'])} types, {OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
