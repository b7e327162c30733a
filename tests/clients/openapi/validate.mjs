// validate.mjs OPENAPI_JSON SCHEMA_DIR — checks the OpenAPI 3.1 document
// with @seriousme/openapi-schema-validator, the job schemas it references
// (envelope.json ...) added by their URIs. Exits 0 when valid.
import { Validator } from "@seriousme/openapi-schema-validator";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const [doc, dir] = process.argv.slice(2);
const validator = new Validator();
for (const f of readdirSync(dir)) {
    if (!f.endsWith(".json") || f === "openapi.json") continue;
    validator.addSpecRef(JSON.parse(readFileSync(join(dir, f), "utf8")), f);
}
const res = await validator.validate(JSON.parse(readFileSync(doc, "utf8")));
console.log(JSON.stringify({ valid: res.valid, version: validator.version, errors: res.errors }));
process.exit(res.valid ? 0 : 1);
