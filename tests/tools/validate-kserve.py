"""Validates KServe manifests (ServingRuntime, InferenceService) against
tests/tools/kserve-schemas.json, whose Kubernetes types resolve to kubernetes-validate's own
schemas (strict). Runs in the test-only tools venv (make's $(TOOLS)):
python validate-kserve.py K8S_VERSION FILE...; prints one line per error, exits 1 on any."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate.utils as kv
import yaml
from referencing import Registry, Resource


def main(version: str, files: list[str]) -> int:
    schemas = json.loads((Path(__file__).parent / "kserve-schemas.json").read_text())
    schema_dir = (
        f"v{[v for v in kv.all_versions() if kv.major_minor(v) <= version][-1]}-local-strict"
    )
    definitions = kv.schema_contents(
        f"kubernetes-json-schema/{schema_dir}/_definitions.json", version
    )
    registry = Resource.from_contents(definitions) @ Registry()
    errors = 0
    for file in files:
        for doc in yaml.safe_load_all(Path(file).read_text()):
            schema = schemas.get(doc.get("kind"))
            if schema is None:
                print(f"{file}: no KServe schema for kind {doc.get('kind')}")
                errors += 1
                continue
            validator = jsonschema.Draft202012Validator(schema, registry=registry)
            for err in validator.iter_errors(doc):
                where = ".".join(str(p) for p in err.absolute_path) or "(root)"
                print(f"{file}: {doc['kind']} {where}: {err.message}")
                errors += 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
