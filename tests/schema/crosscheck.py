#!/usr/bin/env python3
"""crosscheck.py — checks tests/schema/vectors.json against a second validator.

The unit test (tests/unit/test_schema.c) runs the same vectors through
Sluice's own validator, which interprets only a subset of JSON Schema. Here
python3-jsonschema, a full draft 2020-12 implementation, judges each vector
against the schema files themselves. When both agree with every vector's
"valid", the C subset and the standard mean the same thing for our schemas,
and producers in other languages can rely on the files.

Exits 0 when every vector agrees, 1 otherwise. Run from anywhere.
"""
import json
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
VECTORS = ROOT / "tests" / "schema" / "vectors.json"


def load_validators():
    validators = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        if path.name == "openapi.json":  # the intake's API, not a job schema
            continue
        schema = json.loads(path.read_text(encoding="utf-8"))
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            sys.exit(f"crosscheck: {path.relative_to(ROOT)} is not a valid 2020-12 schema: "
                     f"{e.message}")
        validators[path.stem] = jsonschema.Draft202012Validator(schema)
    return validators


def main():
    validators = load_validators()
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    passed = failed = 0
    for i, vec in enumerate(vectors):
        where = f"vector {i} ({vec.get('schema')}: {json.dumps(vec.get('doc'))[:60]})"
        problem = None
        validator = validators.get(vec.get("schema"))
        if validator is None:
            problem = f"no schema named {vec.get('schema')!r} in schemas/"
        elif not isinstance(vec.get("valid"), bool) or "doc" not in vec:
            problem = 'needs "doc" and a boolean "valid"'
        elif vec["valid"] and "error" in vec:
            problem = 'is marked valid but expects an "error"'
        else:
            errors = list(validator.iter_errors(vec["doc"]))
            if vec["valid"] and errors:
                problem = f"marked valid, but jsonschema says: {errors[0].message}"
            elif not vec["valid"] and not errors:
                problem = "marked invalid, but jsonschema accepts it"
        if problem:
            failed += 1
            print(f"crosscheck: FAIL {where}: {problem}", file=sys.stderr)
        else:
            passed += 1
    print(f"crosscheck: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
