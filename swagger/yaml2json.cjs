// Converts openapi.yaml into openapi.json at build time.
//   node yaml2json.cjs <node_modules dir> <in.yaml> <out.json>
// Duplicate keys and YAML errors fail the build; the JSON is written to a
// temporary file and renamed into place.
'use strict';
const fs = require('fs');
const path = require('path');

const [modules, input, output] = process.argv.slice(2);
if (!modules || !input || !output) {
  console.error('usage: node yaml2json.cjs <node_modules dir> <in.yaml> <out.json>');
  process.exit(2);
}
const YAML = require(path.join(path.resolve(modules), 'yaml'));

const doc = YAML.parseDocument(fs.readFileSync(input, 'utf8'), { uniqueKeys: true, prettyErrors: true });
if (doc.errors.length > 0) {
  for (const e of doc.errors) console.error(`${input}: ${e.message}`);
  process.exit(1);
}
const spec = doc.toJS({ maxAliasCount: -1 });
if (!spec || typeof spec.openapi !== 'string' || typeof spec.paths !== 'object') {
  console.error(`${input}: not an OpenAPI document (no "openapi" or "paths")`);
  process.exit(1);
}
const tmp = `${output}.tmp`;
fs.writeFileSync(tmp, JSON.stringify(spec, null, 1) + '\n');
fs.renameSync(tmp, output);
