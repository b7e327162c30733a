"""check_responses.py OPENAPI_JSON RECORDS — checks live answers of the
intake against schemas/openapi.json. RECORDS holds one JSON object a line:
{"method": "post", "path": "/v1/jobs/{id}", "status": 201, "body": "..."}
(path as written in the document). Every status must be documented for its
operation and the body must match the response schema (python3-jsonschema,
draft 2020-12, refs resolved in the document). Prints one line per problem;
exits 1 if any."""
import json
import sys

import jsonschema

doc = json.load(open(sys.argv[1]))
resolver = jsonschema.RefResolver.from_schema(doc)
bad = 0
seen = set()
for line in open(sys.argv[2]):
    rec = json.loads(line)
    op = doc["paths"].get(rec["path"], {}).get(rec["method"])
    what = f'{rec["method"].upper()} {rec["path"]} {rec["status"]}'
    if op is None:
        print(f"{what}: no such operation in the document")
        bad += 1
        continue
    resp = op["responses"].get(str(rec["status"]))
    if resp is None:
        print(f"{what}: status not documented")
        bad += 1
        continue
    schema = resp["content"]["application/json"]["schema"]
    try:
        body = json.loads(rec["body"])
        jsonschema.Draft202012Validator(schema, resolver=resolver).validate(body)
        seen.add(what)
    except (ValueError, jsonschema.ValidationError) as e:
        print(f"{what}: {getattr(e, 'message', e)}; body {rec['body'][:200]}")
        bad += 1
# every documented response was seen live
for path, ops in doc["paths"].items():
    for method, op in ops.items():
        if method == "parameters":
            continue
        for status in op["responses"]:
            if f"{method.upper()} {path} {status}" not in seen:
                print(f"{method.upper()} {path} {status}: documented, not checked live")
                bad += 1
print(f"{len(seen)} documented answers checked live, {bad} problems")
sys.exit(1 if bad else 0)
