// The contract (openapi.json, as built from swagger/openapi.yaml) and the
// checks of real responses against it, with maintained validators:
//   - the document itself: @seriousme/openapi-schema-validator (OpenAPI 3.1 schema);
//   - each response body and header: Ajv (JSON Schema 2020-12, the dialect of
//     OpenAPI 3.1) with ajv-formats.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;
const { Validator } = require('@seriousme/openapi-schema-validator');

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
const COMPONENTS_ID = 'https://warmpool.invalid/openapi/components.json';

// `name`: openapi.json (the manager's) or worker.json (the worker protocol's).
function loadSpec(name = 'openapi.json') {
  const file = path.join(process.env.WARMPOOL_DOCS_DIR || '', name);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: it is built from swagger/${name.replace('.json', '.yaml')} by the target warmpool_docs (swagger/CMakeLists.txt)`);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Validates the OpenAPI document; returns a list of error strings.
async function documentErrors(spec) {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(spec));
  if (result.valid) return [];
  return (Array.isArray(result.errors) ? result.errors : [result.errors])
    .map((e) => (typeof e === 'string' ? e : `${e.instancePath || ''} ${e.message || JSON.stringify(e)}`));
}

// Every operation as "METHOD /path".
function operations(spec) {
  const ops = [];
  for (const [p, item] of Object.entries(spec.paths)) {
    for (const m of METHODS) if (item[m]) ops.push(`${m.toUpperCase()} ${p}`);
  }
  return ops.sort();
}

// Points "#/components/..." references at the components schema registered in Ajv.
function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/')
        ? `${COMPONENTS_ID}#/${v.slice('#/components/'.length).replace(/^schemas\//, '$defs/')}`
        : rewriteRefs(v);
    }
    return out;
  }
  return node;
}

class Contract {
  constructor(spec = loadSpec()) {
    this.spec = spec;
    this.ajv = new Ajv2020({ strict: true, allErrors: true, strictRequired: false });
    addFormats(this.ajv);
    // OpenAPI's own annotation keywords in schemas.
    this.ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
    this.ajv.addSchema({ $id: COMPONENTS_ID, $defs: rewriteRefs(spec.components.schemas) });
    this.compiled = new Map();
    this.exercised = new Map();  // "METHOD /path" -> Set of statuses seen and validated
  }

  resolve(node) {
    while (node && node.$ref) {
      const parts = node.$ref.replace(/^#\//, '').split('/');
      node = parts.reduce((n, k) => n[k.replace(/~1/g, '/').replace(/~0/g, '~')], this.spec);
    }
    return node;
  }

  validator(key, schema) {
    if (!this.compiled.has(key)) this.compiled.set(key, this.ajv.compile(rewriteRefs(schema)));
    return this.compiled.get(key);
  }

  // Checks one response of `method template` against the contract. `response`:
  // { status, headers (a Headers or a plain object), body (string) }.
  // Returns a list of error strings (empty: it conforms) and records coverage.
  check(method, template, response) {
    const where = `${method} ${template} -> ${response.status}`;
    const item = this.spec.paths[template];
    const op = item && item[method.toLowerCase()];
    if (!op) return [`${where}: no such operation in the spec`];
    const responses = op.responses || {};
    const documented = responses[String(response.status)] || responses[`${String(response.status)[0]}XX`] || responses.default;
    if (!documented) {
      return [`${where}: status not documented (documented: ${Object.keys(responses).join(', ')}); body: ${String(response.body).slice(0, 300)}`];
    }
    const spec = this.resolve(documented);
    const errors = [];
    const header = (name) => (typeof response.headers.get === 'function'
      ? response.headers.get(name) : response.headers[name.toLowerCase()]);

    for (const [name, h] of Object.entries(spec.headers || {})) {
      const def = this.resolve(h);
      const value = header(name);
      if (value == null) {
        if (def.required) errors.push(`${where}: required header ${name} is missing`);
        continue;
      }
      const v = this.validator(`${where} header ${name}`, def.schema || {});
      if (!v(value)) errors.push(`${where}: header ${name}=${JSON.stringify(value)}: ${this.ajv.errorsText(v.errors)}`);
    }

    const content = spec.content || {};
    const type = (header('content-type') || '').split(';')[0].trim();
    if (Object.keys(content).length === 0) {
      if (response.body) errors.push(`${where}: a body where the spec documents none`);
    } else if (!content[type]) {
      errors.push(`${where}: content type "${type}" not documented (documented: ${Object.keys(content).join(', ')}); body: ${String(response.body).slice(0, 300)}`);
    } else {
      let body = response.body;
      if (type === 'application/json' || type.endsWith('+json')) {
        try {
          body = JSON.parse(body);
        } catch (e) {
          errors.push(`${where}: ${type} body is not JSON: ${e.message}`);
        }
      }
      if (errors.length === 0 && content[type].schema) {
        const v = this.validator(`${where} ${type}`, content[type].schema);
        if (!v(body)) {
          errors.push(`${where}: body does not match the schema: ${this.ajv.errorsText(v.errors, { separator: '; ' })}; body: ${String(response.body).slice(0, 500)}`);
        }
      }
    }
    if (errors.length === 0) {
      const key = `${method} ${template}`;
      if (!this.exercised.has(key)) this.exercised.set(key, new Set());
      this.exercised.get(key).add(response.status);
    }
    return errors;
  }

  // Operations with no validated 2xx response so far.
  unexercised() {
    return operations(this.spec).filter((op) => ![...(this.exercised.get(op) || [])].some((s) => s >= 200 && s < 300));
  }
}

module.exports = { Contract, documentErrors, loadSpec, operations };
