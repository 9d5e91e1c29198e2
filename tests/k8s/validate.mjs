// Validates Kubernetes manifests against the Kubernetes API schemas, strictly.
//
//   node tests/k8s/validate.mjs [DIR...]   (DIR defaults to deploy/k8s)
//
// Every document of every *.yaml in DIR (kustomization.yaml aside) is checked twice, both from
// the kubernetes-models package (generated from the Kubernetes OpenAPI specification):
//   1. its JSON schema (types, formats, required fields, enums) through Model.validate();
//   2. its TypeScript type, through the TypeScript compiler, which also rejects fields the API
//      does not know (a misspelt `readinesProbe` passes the JSON schema, which allows extra
//      properties, as the API server's non-strict decoding does, but not this check).
// Prints one line per problem, prefixed with the file (DIR/name.yaml when several directories
// are given, one TypeScript program for all), and exits 1 if there is any, 0 otherwise.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs = (process.argv.length > 2 ? process.argv.slice(2) : [path.join(here, '..', '..', 'deploy', 'k8s')])
  .map((d) => path.resolve(d));
const problems = [];
const docs = []; // { file, index, doc, modulePath, typeName }
let nfiles = 0;

function modulePathOf(apiVersion) {
  // "v1" is the core group; "apps/v1" -> apps/v1; "networking.k8s.io/v1" -> networking.k8s.io/v1.
  return `kubernetes-models/${apiVersion}`;
}

for (const dir of dirs) {
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && !/^kustomization\.ya?ml$/.test(f)).sort();
  if (files.length === 0) problems.push(`${dir}: no manifests`);
  nfiles += files.length;
  for (const name of files) {
    const file = dirs.length > 1 ? `${path.basename(dir)}/${name}` : name;
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    const parsed = YAML.parseAllDocuments(text, { uniqueKeys: true });
    parsed.forEach((d, index) => {
      for (const e of d.errors) problems.push(`${file}#${index}: YAML: ${e.message}`);
      const doc = d.toJS();
      if (doc === null || doc === undefined) return; // an empty document (e.g. after a trailing ---)
      if (typeof doc !== 'object' || !doc.apiVersion || !doc.kind) {
        problems.push(`${file}#${index}: not a Kubernetes object (apiVersion and kind needed)`);
        return;
      }
      docs.push({ file, index, doc, modulePath: `${modulePathOf(doc.apiVersion)}/${doc.kind}`, typeName: `I${doc.kind}` });
    });
  }
}

// 1. JSON schema.
for (const d of docs) {
  let mod;
  try {
    mod = await import(d.modulePath);
  } catch {
    problems.push(`${d.file}#${d.index}: unknown apiVersion/kind ${d.doc.apiVersion} ${d.doc.kind}`);
    d.unknown = true;
    continue;
  }
  const Model = mod[d.doc.kind];
  try {
    new Model(d.doc).validate();
  } catch (e) {
    const details = (e.errors || []).map((x) => `${x.instancePath || '/'} ${x.message}`).join('; ');
    problems.push(`${d.file}#${d.index} ${d.doc.kind}/${d.doc.metadata?.name}: schema: ${details || e.message}`);
  }
}

// 2. TypeScript types: exact field names, nested all the way down.
const known = docs.filter((d) => !d.unknown);
if (known.length) {
  const virtual = path.join(here, '__manifests__.ts');
  const ranges = [];
  let src = '';
  known.forEach((d, i) => {
    src += `import type { ${d.typeName} as T${i} } from ${JSON.stringify(d.modulePath)};\n`;
  });
  known.forEach((d, i) => {
    const start = src.split('\n').length;
    src += `export const m${i}: T${i} = ${JSON.stringify(d.doc, null, 2)};\n`;
    ranges.push({ start, end: src.split('\n').length - 1, d });
  });
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    path.resolve(name) === virtual ? ts.createSourceFile(name, src, lang, true) : getSourceFile(name, lang, ...rest);
  host.fileExists = (name) => path.resolve(name) === virtual || fileExists(name);
  host.readFile = (name) => (path.resolve(name) === virtual ? src : readFile(name));
  const program = ts.createProgram([virtual], options, host);
  const srcLines = src.split('\n');
  for (const diag of ts.getPreEmitDiagnostics(program)) {
    const msg = ts.flattenDiagnosticMessageText(diag.messageText, ' ');
    if (!diag.file || path.resolve(diag.file.fileName) !== virtual) {
      problems.push(`typescript: ${msg}`);
      continue;
    }
    const { line } = diag.file.getLineAndCharacterOfPosition(diag.start);
    const r = ranges.find((x) => line + 1 >= x.start && line + 1 <= x.end);
    const where = r ? `${r.d.file}#${r.d.index} ${r.d.doc.kind}/${r.d.doc.metadata?.name}` : 'manifests';
    problems.push(`${where}: type: ${msg} (at ${srcLines[line].trim()})`);
  }
}

for (const p of problems) console.log(p);
console.log(`${docs.length} objects in ${nfiles} files checked, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
