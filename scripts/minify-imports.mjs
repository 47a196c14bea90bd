#!/usr/bin/env node
// minify-imports.mjs — shrink the wasm-bindgen (--target web) glue by renaming wasm imports
// and exports.
//
// wasm-bindgen names every JS import like `__wbg_instanceof_Window_5cf453f5639aa1a2` and puts them
// all in a module named like "./<crate>_bg.js"; its exports are named like
// `wasm_bindgen__convert__closures_____invoke__h4e4592410f0590cc` or `mcpauth_new`. Each name is
// paid for twice (wasm and JS glue) and the random hex suffixes compress badly. This script
// parses the wasm import and export sections by hand, renames every import field to a short
// unique name (a, b, …, Z, aa, …) and the module to "w", renames every export the glue uses
// (all but `memory`) the same way, re-encodes only those two sections (all other sections are
// copied byte-for-byte), and applies the same renames to the JS glue and the two .d.ts files as
// exact whole-token replacements. Imports straight from a JS snippet (`./snippets/...`) keep
// their module and names: those are the snippet file's path and export names. The package's
// own JS API (the glue's exports) is not touched. Before writing anything it validates the
// result: the new wasm must compile, import and export exactly the renamed names, the patched
// glue must name no old export, be importable in Node, keep the same JS exports, build an
// imports object whose glue keys are exactly the wasm's glue imports (and that supplies every
// snippet import), and `initSync({ module })` must instantiate without a LinkError. Any mismatch
// exits non-zero and leaves the files untouched. On an already-minified directory it only
// re-validates (no-op, or a loud failure if wasm and glue disagree).
//
// Usage: node minify-imports.mjs <pkg-dir>   (dir holds <name>_bg.wasm and <name>.js; the name is
// detected from the single *_bg.wasm file, e.g. mcp_oauth_wasm_bg.wasm + mcp_oauth_wasm.js)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const NEW_MODULE = 'w';
const die = (msg) => { console.error(`minify-imports: ERROR: ${msg}`); process.exit(1); };

// ---------- locate files ----------
const dir = process.argv[2] || die('usage: node minify-imports.mjs <pkg-dir>');
const wasms = fs.readdirSync(dir).filter((f) => f.endsWith('_bg.wasm'));
if (wasms.length !== 1) die(`expected exactly one *_bg.wasm in ${dir}, found ${wasms.length}`);
const wasmPath = path.join(dir, wasms[0]);
const jsPath = path.join(dir, wasms[0].replace(/_bg\.wasm$/, '.js'));
if (!fs.existsSync(jsPath)) die(`missing ${jsPath}`);
const wasmIn = fs.readFileSync(wasmPath);
const jsIn = fs.readFileSync(jsPath, 'utf8');

// ---------- LEB128 / binary helpers ----------
function readU32(buf, pos) { // returns [value, newPos]; also used to skip u64/s33 (only the length matters there)
  let result = 0, shift = 0, b;
  do {
    if (pos >= buf.length) die('truncated LEB128');
    b = buf[pos++];
    if (shift < 32) result |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return [result >>> 0, pos];
}
function encU32(n) {
  const out = [];
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return Buffer.from(out);
}
const encName = (s) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([encU32(b.length), b]); };
function readName(buf, pos) {
  const [len, p] = readU32(buf, pos);
  if (p + len > buf.length) die('name runs past end');
  return [new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(p, p + len)), p + len];
}
// value/reference type: one byte, except (ref ht)/(ref null ht) = 0x64/0x63 + s33 heap type
function skipValType(buf, pos) {
  const t = buf[pos++];
  return (t === 0x63 || t === 0x64) ? readU32(buf, pos)[1] : pos;
}
// limits: flags (bit0 has-max, bit1 shared, bit2 64-bit index, bit3 custom page size), min, [max], [page log2]
function skipLimits(buf, pos) {
  const flags = buf[pos++];
  if (flags & ~0x0f) die(`unknown limits flags 0x${flags.toString(16)}`);
  pos = readU32(buf, pos)[1];
  if (flags & 1) pos = readU32(buf, pos)[1];
  if (flags & 8) pos = readU32(buf, pos)[1];
  return pos;
}
// returns end offset of an import descriptor starting at pos (the kind byte)
function skipImportDesc(buf, pos) {
  const kind = buf[pos++];
  switch (kind) {
    case 0: return readU32(buf, pos)[1]; // func: type index
    case 1: { // table: reftype (0x70 funcref, 0x6f externref, …) + limits
      if (buf[pos] === 0x40) die('table with initializer cannot be an import');
      return skipLimits(buf, skipValType(buf, pos));
    }
    case 2: return skipLimits(buf, pos); // memory
    case 3: return skipValType(buf, pos) + 1; // global: valtype + mutability
    case 4: { // tag: attribute byte (0 = exception) + type index
      if (buf[pos] !== 0) die(`unknown tag attribute ${buf[pos]}`);
      return readU32(buf, pos + 1)[1];
    }
    default: die(`unknown import kind 0x${kind.toString(16)} at offset ${pos - 1}`);
  }
}

// ---------- parse wasm into sections ----------
if (wasmIn.readUInt32LE(0) !== 0x6d736100 || wasmIn.readUInt32LE(4) !== 1) die('not a wasm module (version 1)');
const sections = []; // { id, start (of id byte), bodyStart, end }
for (let pos = 8; pos < wasmIn.length;) {
  const id = wasmIn[pos];
  const [size, bodyStart] = readU32(wasmIn, pos + 1);
  const end = bodyStart + size;
  if (end > wasmIn.length) die(`section ${id} runs past end of file`);
  sections.push({ id, start: pos, bodyStart, end });
  pos = end;
}
const importSecs = sections.filter((s) => s.id === 2);
if (importSecs.length !== 1) die(`expected one import section, found ${importSecs.length}`);
const imp = importSecs[0];

const imports = []; // { module, field, desc: Buffer }
{
  let [count, pos] = readU32(wasmIn, imp.bodyStart);
  for (let i = 0; i < count; i++) {
    let module, field;
    [module, pos] = readName(wasmIn, pos);
    [field, pos] = readName(wasmIn, pos);
    const descEnd = skipImportDesc(wasmIn, pos);
    imports.push({ module, field, desc: wasmIn.subarray(pos, descEnd) });
    pos = descEnd;
  }
  if (pos !== imp.end) die(`import section parse ended at ${pos}, expected ${imp.end}`);
}
if (imports.length === 0) { console.log('minify-imports: no imports, nothing to do'); process.exit(0); }

const exportSecs = sections.filter((s) => s.id === 7);
if (exportSecs.length !== 1) die(`expected one export section, found ${exportSecs.length}`);
const exp = exportSecs[0];
const exportsIn = []; // { name, desc: Buffer (kind byte + index) }
{
  let [count, pos] = readU32(wasmIn, exp.bodyStart);
  for (let i = 0; i < count; i++) {
    let name;
    [name, pos] = readName(wasmIn, pos);
    const descEnd = readU32(wasmIn, pos + 1)[1];
    exportsIn.push({ name, desc: wasmIn.subarray(pos, descEnd) });
    pos = descEnd;
  }
  if (pos !== exp.end) die(`export section parse ended at ${pos}, expected ${exp.end}`);
}
if (exp.start < imp.start) die('export section before the import section');

// imports straight from a JS snippet (`#[wasm_bindgen(module = ...)]`, under ./snippets/) keep
// their names: they are the snippet's export names. Everything else comes from one glue module.
const isSnippet = (m) => m.startsWith('./snippets/');
const modules = [...new Set(imports.filter((i) => !isSnippet(i.module)).map((i) => i.module))];
if (modules.length !== 1) die(`expected a single glue import module, found: ${modules.join(', ')}`);
const oldModule = modules[0];
const renamed = (i) => !isSnippet(i.module);
// Already minified: rename nothing, but still run the full validation below, then exit without writing.
const already = oldModule === NEW_MODULE;

// ---------- new names ----------
const FIRST = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const REST = FIRST + '0123456789_'; // no `$`: names are also used as replacement text
function shortName(i) { // a..Z, then aa, ab, … (bijective, always a valid JS identifier)
  let s = FIRST[i % FIRST.length];
  for (i = Math.floor(i / FIRST.length); i > 0; i = Math.floor((i - 1) / REST.length)) s += REST[(i - 1) % REST.length];
  return s;
}
// reserved words are fine as property keys, not as `export const` names in the .d.ts
const RESERVED = new Set(['do', 'if', 'in', 'for', 'let', 'new', 'try', 'var', 'case', 'else', 'enum', 'null', 'this', 'true', 'void', 'with']);
function namer() { // successive short names, reserved words skipped
  let i = 0;
  return () => { let n; do n = shortName(i++); while (RESERVED.has(n)); return n; };
}
const nextImportName = namer();
const rename = new Map(); // old field -> new field (a field imported twice keeps one name)
for (const { field } of imports.filter(renamed)) if (!rename.has(field)) rename.set(field, already ? field : nextImportName());
// exports the glue uses (`wasm.<name>`) get short names too, except `memory`; one the glue
// never names keeps its name
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const tokenRe = (s) => new RegExp(`(?<![\\w$])${escapeRe(s)}(?![\\w$])`, 'g');
const exportRename = new Map();
const nextExportName = namer();
if (!already) for (const { name } of exportsIn)
  if (name !== 'memory' && tokenRe(name).test(jsIn)) exportRename.set(name, nextExportName());
const newExport = (name) => exportRename.get(name) ?? name;
const newImport = (i) => (renamed(i) ? { module: NEW_MODULE, name: rename.get(i.field) } : { module: i.module, name: i.field });

// ---------- rebuild wasm ----------
const body = Buffer.concat([encU32(imports.length),
  ...imports.map(newImport).flatMap((n, k) => [encName(n.module), encName(n.name), imports[k].desc])]);
const expBody = Buffer.concat([encU32(exportsIn.length),
  ...exportsIn.flatMap((e) => [encName(newExport(e.name)), e.desc])]);
const wasmOut = Buffer.concat([
  wasmIn.subarray(0, imp.start), Buffer.from([2]), encU32(body.length), body,
  wasmIn.subarray(imp.end, exp.start), Buffer.from([7]), encU32(expBody.length), expBody, wasmIn.subarray(exp.end)]);

// ---------- patch JS (exact whole-token replacements) ----------
const wasmExportNames = WebAssembly.Module.exports(new WebAssembly.Module(wasmIn)).map((e) => e.name);
let jsOut = jsIn;
if (!already) for (const [oldName, newName] of rename) {
  // an import that shares its name with a wasm export (`wasm.<name>`) would make a global replace unsafe
  if (wasmExportNames.includes(oldName)) die(`import "${oldName}" is also a wasm export name; refusing`);
  const n = (jsOut.match(tokenRe(oldName)) || []).length;
  if (n === 0) die(`import "${oldName}" not found in ${path.basename(jsPath)}`);
  jsOut = jsOut.replace(tokenRe(oldName), () => newName);
}
// module name: a quoted string key (e.g. "./x_bg.js"), or a bare identifier (older glue: imports.wbg)
const modRe = /^[A-Za-z_$][\w$]*$/.test(oldModule) ? tokenRe(oldModule)
  : new RegExp(`(['"])${escapeRe(oldModule)}\\1`, 'g');
if (!already) {
  if (!jsOut.match(modRe)) die(`module name "${oldModule}" not found in ${path.basename(jsPath)}`);
  jsOut = jsOut.replace(modRe, (m, q) => (q ? `${q}${NEW_MODULE}${q}` : NEW_MODULE));
}
// export names: the glue (`wasm.<name>`) and both .d.ts files (`InitOutput`, the wasm's types)
const renameExports = (text) => [...exportRename].reduce((t, [o, n]) => t.replace(tokenRe(o), () => n), text);
jsOut = renameExports(jsOut);
const dts = [jsPath.replace(/\.js$/, '.d.ts'), wasmPath + '.d.ts'].filter((f) => fs.existsSync(f))
  .map((f) => [f, renameExports(fs.readFileSync(f, 'utf8'))]);

// ---------- validate ----------
const newMod = new WebAssembly.Module(wasmOut); // throws on malformed output
const got = WebAssembly.Module.imports(newMod);
const want = imports.map(newImport);
if (got.length !== want.length || got.some((g, k) => g.module !== want[k].module || g.name !== want[k].name))
  die('re-encoded wasm imports do not match the intended renames');
const exportsWant = WebAssembly.Module.exports(new WebAssembly.Module(wasmIn)).map((e) => ({ ...e, name: newExport(e.name) }));
if (JSON.stringify(WebAssembly.Module.exports(newMod)) !== JSON.stringify(exportsWant))
  die('re-encoded wasm exports do not match the intended renames');
for (const [o, n] of exportRename) {
  for (const [f, text] of [[jsPath, jsOut], ...dts]) if (tokenRe(o).test(text)) die(`export "${o}" still named in ${path.basename(f)}`);
  const wasmDts = dts.find(([f]) => f.endsWith('.wasm.d.ts'));
  if (wasmDts && !wasmDts[1].includes(`export const ${n}:`)) die(`export "${n}" is not declared in ${path.basename(wasmDts[0])}`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minify-imports-'));
try {
  // the glue imports its snippets by relative path: give the copies the same neighbours
  if (fs.existsSync(path.join(dir, 'snippets'))) fs.cpSync(path.join(dir, 'snippets'), path.join(tmp, 'snippets'), { recursive: true });
  const load = async (name, src) => { // import a copy as ESM regardless of the package's "type"
    const f = path.join(tmp, name); fs.writeFileSync(f, src); return import(pathToFileURL(f).href);
  };
  const before = await load('orig.mjs', jsIn);
  const after = await load('patched.mjs', jsOut);
  if (JSON.stringify(Object.keys(before).sort()) !== JSON.stringify(Object.keys(after).sort()))
    die('JS module exports changed');
  if (typeof after.initSync !== 'function') die('patched glue has no initSync export');

  // capture the imports object the glue passes to WebAssembly.Instance
  const RealInstance = WebAssembly.Instance;
  let captured, instantiated = false;
  WebAssembly.Instance = function (m, imps) { captured = imps; const i = new RealInstance(m, imps); instantiated = true; return i; };
  WebAssembly.Instance.prototype = RealInstance.prototype;
  let startErr;
  try { after.initSync({ module: wasmOut }); } catch (e) { startErr = e; } finally { WebAssembly.Instance = RealInstance; }
  if (!instantiated) die(`patched glue failed to instantiate the new wasm: ${startErr}`);
  // the start function only sets up wasm-bindgen's tables: if it throws, something is wired wrong
  if (startErr) die(`the start function threw with the patched glue: ${startErr}`);

  // the glue's own module must match exactly; a snippet is passed whole (all its exports)
  const supplied = Object.keys(captured || {}).flatMap((m) => Object.keys(captured[m]).map((n) => `${m}\0${n}`))
    .filter((k) => !isSnippet(k)).sort();
  const needed = [...new Set(got.filter((g) => !isSnippet(g.module)).map((g) => `${g.module}\0${g.name}`))].sort();
  if (JSON.stringify(supplied) !== JSON.stringify(needed))
    die('imports object built by the patched glue does not match the wasm imports exactly');
  for (const g of got.filter((g) => isSnippet(g.module)))
    if (typeof captured?.[g.module]?.[g.name] !== 'function') die(`snippet import ${g.module} ${g.name} not supplied`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

if (already) {
  console.log(`minify-imports: already minified (module "${NEW_MODULE}") and consistent — nothing to do`);
  process.exit(0);
}

// ---------- write (temp file + rename, so a crash never leaves a half-written file) ----------
for (const [f, data] of [[wasmPath, wasmOut], [jsPath, jsOut], ...dts]) {
  fs.writeFileSync(`${f}.tmp`, data);
  fs.renameSync(`${f}.tmp`, f);
}
console.log(`minify-imports: renamed ${rename.size} imports, module "${oldModule}" -> "${NEW_MODULE}", and ${exportRename.size} exports`);
console.log(`  ${path.basename(wasmPath)}: ${wasmIn.length} -> ${wasmOut.length} bytes`);
console.log(`  ${path.basename(jsPath)}: ${Buffer.byteLength(jsIn)} -> ${Buffer.byteLength(jsOut)} bytes`);
