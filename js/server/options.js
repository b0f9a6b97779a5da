'use strict';
// The server's options, declared once: the table below drives validation of `serve(options)`,
// the parsing of `chori-torch serve` flags and its --help text, so the three cannot disagree.
// Errors name the parameter as the caller wrote it: `options.sloMs` from JS, `--slo-ms` from a shell.

const path = require('node:path');
const { parseArgs } = require('node:util');
const { codes } = require('../errors');
const { DEFAULT_MAX_PIXELS, defaultModelPath } = require('../model');
const { CHOICES } = require('../optimize');
const { POLICIES } = require('./core/self-check');
const validate = require('../validate');
const { artifactsIn } = require('./model-dir');

const MiB = 1024 * 1024;
const MODEL_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

// kind: integer (min, max), boolean, string, enum (values), models. `default` may be a function
// of the options already normalized (they are normalized in table order).
const SPEC = [
  { key: 'models', flag: 'model', kind: 'models', arg: '[NAME=]PATH',
    help: 'a model to serve, named NAME (default: the file name without extension); repeat for several, the first answers /predict (default: $CHORI_TORCH_MODEL, else export/model.pt)' },
  { key: 'modelDir', kind: 'string', arg: 'DIR',
    help: 'serve every artifact (.pt, .pt2) in DIR, each named by its file name without extension, model.pt first (else the first by name) answering /predict: KServe\'s /mnt/models, which the container image sets (--model wins)' },
  { key: 'allowPartial', kind: 'boolean', default: false,
    help: 'keep serving the models that load when others fail to at start: each failure is logged as a warning and listed under "failed" in /models (default off: any failure exits 1; none loading always does)' },
  { key: 'host', kind: 'string', default: '127.0.0.1', arg: 'HOST', help: 'address to listen on (default 127.0.0.1: this machine only)' },
  { key: 'port', kind: 'integer', min: 0, max: 65535, default: 8080, arg: 'N', help: 'TCP port, 0 for any free one (default 8080)' },
  { key: 'managementHost', kind: 'string', default: '127.0.0.1', arg: 'HOST',
    help: 'address of the management listener (POST /models/NAME/reload); beyond loopback it always needs a key (default 127.0.0.1)' },
  { key: 'managementPort', kind: 'integer', min: 0, max: 65535, default: (o) => (o.port === 0 ? 0 : 8081), arg: 'N',
    help: 'TCP port of the management listener, 0 for any free one (default 8081; any free one when --port is 0)' },
  { key: 'grpcPort', kind: 'integer', min: 0, max: 65535, arg: 'N',
    help: 'also serve the Open Inference Protocol over gRPC on this port of --host, 0 for any free one (off unless given; suggested 8085: KServe\'s 8081 is the management port here)' },
  { key: 'inferenceKeyFile', kind: 'string', arg: 'FILE',
    help: 'a file holding the inference key: prediction and model routes then need "Authorization: Bearer <key>" (default: $CHORI_TORCH_INFERENCE_KEY, else no key)' },
  { key: 'managementKeyFile', kind: 'string', arg: 'FILE',
    help: 'a file holding the management key (default: $CHORI_TORCH_MANAGEMENT_KEY, else none on loopback and a generated one beyond it)' },
  { key: 'generatedKeysFile', kind: 'string', arg: 'FILE',
    help: 'where a generated management key is written, mode 0600 (default: keys.json in a new private directory under the temp directory; the path is logged, never the key)' },
  { key: 'protectMetrics', kind: 'boolean', default: false,
    help: 'GET /metrics needs the inference key too (default off: Prometheus scrapes the inference port without one)' },
  { key: 'tlsCert', kind: 'string', arg: 'FILE', help: 'PEM certificate (chain): serve https on both listeners (with --tls-key); a renewed file is taken up without a restart' },
  { key: 'tlsKey', kind: 'string', arg: 'FILE', help: 'PEM private key of --tls-cert' },
  { key: 'threads', kind: 'integer', min: 1, max: 1024, arg: 'N',
    help: 'libtorch intra-op threads of each worker (default, with neither --threads nor --workers: adaptive, as load(): every core for a forward that runs alone, one each when requests queue, never more than the cores; a model whose optimisation is not thread-count deterministic runs one forward per core at one thread each, a .pt2 one worker with every core)' },
  { key: 'workers', kind: 'integer', min: 1, max: 64, arg: 'N',
    help: 'inference threads per model, each running its own forward: --workers <cores> --threads 1 keeps every core on inference (default: adaptive, see --threads)' },
  { key: 'optimize', kind: 'enum', values: CHOICES, default: 'auto', arg: 'FORM',
    help: 'load-time graph passes: auto (onednn for a fixed input size, else freeze), none, freeze, ofi or onednn; golden sets must be written with the same (chori golden --optimize; default auto)' },
  { key: 'device', kind: 'device', default: 'cpu', arg: 'DEVICE',
    help: 'where every model runs: cpu, cuda or cuda:N (decoding stays on the CPU; a GPU that cannot be used fails the load with CHORI_DEVICE, saying why; default cpu)' },
  { key: 'deterministic', kind: 'boolean', default: false,
    help: 'on a GPU: cuDNN deterministic algorithms and no TF32, so answers repeat bit for bit and match `chori golden --device cuda --deterministic` (default off)' },
  { key: 'batch', kind: 'boolean', default: false,
    help: 'dynamic batching: gather concurrent requests on a model into one forward (more throughput under load; rows then differ from batch-1 answers in the last bits; default off)' },
  { key: 'maxPixels', kind: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER, default: DEFAULT_MAX_PIXELS, arg: 'N',
    help: 'largest width × height accepted, checked before decoding (default PIL\'s limit)' },
  { key: 'topk', kind: 'integer', min: 1, max: 1000, default: 5, arg: 'K', help: 'ranked labels per answer unless ?topk= says otherwise (default 5, at most the number of labels)' },
  { key: 'maxBodyBytes', kind: 'integer', min: 1, max: 1024 * MiB, default: 10 * MiB, arg: 'N', help: 'largest request body; more is 413 (default 10 MiB)' },
  { key: 'maxBatch', kind: 'integer', min: 1, max: 1024, default: 32, arg: 'N', help: 'most images in one request: {"inputs": [...]} to /predict, N of an Open Inference Protocol input (default 32)' },
  { key: 'maxQueue', kind: 'integer', min: 1, max: 1e6, default: 64, arg: 'N', help: 'most images in flight per model; more is 503 with Retry-After (default 64)' },
  { key: 'sloMs', kind: 'integer', min: 1, max: 3600000, arg: 'MS', help: 'latency objective: past it, answer --default-label, or 504 without one (default: none)' },
  { key: 'defaultLabel', kind: 'string', arg: 'LABEL', help: 'the answer when --slo-ms passes, marked "default": true' },
  { key: 'noUi', kind: 'boolean', default: false,
    help: 'do not serve the web page (GET /: try the model, see the server\'s status) nor its /ui/* files and /status.json; they answer 404' },
  { key: 'allowUrl', kind: 'boolean', default: false, help: 'enable GET /predict?url=… (off by default)' },
  { key: 'allowPrivateUrls', kind: 'boolean', default: false,
    help: 'let ?url= reach loopback, private, link-local and metadata addresses (unsafe: server-side request forgery)' },
  { key: 'urlTimeoutMs', kind: 'integer', min: 1, max: 600000, default: 5000, arg: 'MS', help: 'time limit for fetching a ?url= image, redirects included (default 5000)' },
  { key: 'urlMaxBytes', kind: 'integer', min: 1, max: 1024 * MiB, default: (o) => o.maxBodyBytes, arg: 'N', help: 'largest ?url= image (default: --max-body-bytes)' },
  { key: 'urlMaxRedirects', kind: 'integer', min: 0, max: 20, default: 3, arg: 'N', help: 'redirects followed for ?url=, each one checked again (default 3)' },
  { key: 'watch', kind: 'boolean', default: false, help: 'reload a model when its file changes' },
  { key: 'watchIntervalMs', kind: 'integer', min: 10, max: 3600000, default: 1000, arg: 'MS', help: 'how often --watch looks at the files (default 1000)' },
  { key: 'logFormat', kind: 'enum', values: ['text', 'json', 'none'], default: 'text', arg: 'FORMAT', help: 'request log lines on stdout: text, json or none (default text)' },
  { key: 'requestTimeoutMs', kind: 'integer', min: 1000, max: 3600000, default: 30000, arg: 'MS', help: 'time a client has to send its whole request (default 30000)' },
  { key: 'shutdownTimeoutMs', kind: 'integer', min: 0, max: 3600000, default: 10000, arg: 'MS',
    help: 'on SIGTERM, how long in-flight requests may take to finish (default 10000)' },
  { key: 'drainDelayMs', kind: 'integer', min: 0, max: 3600000, default: 5000, arg: 'MS',
    help: 'on SIGTERM, how long to keep serving first, with /readyz answering 503 and every answer saying Connection: close, so that balancers and Kubernetes stop sending before the port closes (default 5000; then --shutdown-timeout-ms applies)' },
  { key: 'verify', kind: 'enum', values: POLICIES, default: 'exact', arg: 'POLICY',
    help: 'at start, predict each model\'s golden set (NAME.golden.json beside the artifact, from chori export --golden) and stay not ready when the logits differ: exact (any bit), top1 (a top-1 class), or off (no check); a model without one is not checked (default exact)' },
];
// Only from JavaScript: where log lines go, and the DNS resolver the URL guard uses (tests inject one).
const API_ONLY = ['logStream', 'resolve'];

const flagOf = (spec) => spec.flag ?? spec.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
// Every flag is also an environment variable: --max-queue is CHORI_TORCH_MAX_QUEUE (flags win).
const ENV_PREFIX = 'CHORI_TORCH_';
const envNameOf = (spec) => `${ENV_PREFIX}${flagOf(spec).toUpperCase().replace(/-/g, '_')}`;
// Integers stay strings when they do not parse, so the error quotes what was typed.
const integerOrText = (text) => (/^[+-]?\d+$/.test(text) ? Number(text) : text);

function usageError(message) {
  const err = new TypeError(message);
  err.code = codes.INVALID_ARGUMENT;
  return err;
}

function check(spec, value, name) {
  switch (spec.kind) {
    case 'integer':
      if (!validate.is.integer(value) || !validate.is.inRange(value, spec.min, spec.max)) {
        throw validate.invalidParameterError(name, `an integer between ${spec.min} and ${spec.max}`, value);
      }
      return value;
    case 'boolean':
      if (!validate.is.bool(value)) throw validate.invalidParameterError(name, 'a boolean', value);
      return value;
    case 'string':
      if (!validate.is.string(value)) throw validate.invalidParameterError(name, 'a non-empty string', value);
      return value;
    case 'device':
      return validate.device(value, name);
    case 'enum':
      if (!spec.values.includes(value)) throw validate.invalidParameterError(name, `one of ${spec.values.join(', ')}`, value);
      return value;
    default:
      throw new Error(`unknown option kind ${spec.kind}`);
  }
}

/** `[{ name, path }]` from `{ name: path }` (JS) or `['name=path' | 'path', …]` (command line). */
function parseModels(value, name) {
  let entries;
  if (validate.is.plainObject(value)) {
    entries = Object.entries(value).map(([n, p]) => {
      if (!validate.is.string(p)) throw validate.invalidParameterError(`${name}.${n}`, 'a model file path', p);
      return [n, p];
    });
  } else if (Array.isArray(value)) {
    entries = value.map((text) => {
      const eq = text.indexOf('=');
      const named = eq > 0 && MODEL_NAME.test(text.slice(0, eq));
      const file = named ? text.slice(eq + 1) : text;
      if (!validate.is.string(file)) throw validate.invalidParameterError(name, '[NAME=]PATH', text);
      return [named ? text.slice(0, eq) : path.basename(file, path.extname(file)), file];
    });
  } else {
    throw validate.invalidParameterError(name, 'an object of model names to file paths', value);
  }
  const models = [];
  for (const [modelName, file] of entries) {
    if (!MODEL_NAME.test(modelName)) {
      throw validate.invalidParameterError(`the model name in ${name}`,
        'a letter followed by up to 63 letters, digits, ".", "_" or "-" (name it with NAME=PATH)', modelName);
    }
    if (models.some((m) => m.name === modelName)) {
      throw usageError(`two models are named "${modelName}" in ${name}; give each its own name with NAME=PATH`);
    }
    models.push({ name: modelName, path: path.resolve(file) });
  }
  if (models.length === 0) throw validate.invalidParameterError(name, 'at least one model', value);
  return models;
}

/** The models to serve: those named, else those in `dir`, else $CHORI_TORCH_MODEL or export/model.pt. */
function modelsOf(named, dir, name, dirName) {
  if (validate.is.defined(named) && validate.is.defined(dir)) {
    throw usageError(`give ${name} or ${dirName}, not both: one says which models to serve`);
  }
  if (validate.is.defined(named)) return parseModels(named, name);
  if (validate.is.defined(dir)) {
    if (!validate.is.string(dir)) throw validate.invalidParameterError(dirName, 'a directory path', dir);
    return parseModels(artifactsIn(dir, dirName), dirName);
  }
  return parseModels([defaultModelPath()], name);
}

/**
 * Validates options and fills in defaults. `style` names parameters in errors:
 * 'api' → options.sloMs, 'cli' → --slo-ms.
 */
function normalize(raw, style = 'api') {
  const known = [...SPEC.map((s) => s.key), ...(style === 'api' ? API_ONLY : [])];
  const given = validate.options(raw, 'options', known);
  const nameOf = (spec) => (style === 'cli' ? `--${flagOf(spec)}` : `options.${spec.key}`);
  const out = {};
  for (const spec of SPEC) {
    const value = given[spec.key];
    if (spec.kind === 'models') {
      out.models = modelsOf(value, given.modelDir, nameOf(spec), nameOf(SPEC.find((s) => s.key === 'modelDir')));
    } else if (validate.is.defined(value)) {
      out[spec.key] = check(spec, value, nameOf(spec));
    } else {
      out[spec.key] = typeof spec.default === 'function' ? spec.default(out) : spec.default;
    }
  }
  const flag = (key) => nameOf(SPEC.find((s) => s.key === key));
  if (out.defaultLabel !== undefined && out.sloMs === undefined) {
    throw usageError(`${flag('defaultLabel')} needs ${flag('sloMs')}: the default label is the answer when that deadline passes`);
  }
  if (out.allowPrivateUrls && !out.allowUrl) {
    throw usageError(`${flag('allowPrivateUrls')} needs ${flag('allowUrl')}, which turns on fetching images by URL`);
  }
  if ((out.tlsCert === undefined) !== (out.tlsKey === undefined)) {
    throw usageError(`${flag('tlsCert')} and ${flag('tlsKey')} go together: give both, or neither for plain http`);
  }
  if (out.managementPort !== 0 && out.managementPort === out.port) {
    throw usageError(`${flag('managementPort')} must differ from ${flag('port')} (${out.port}): management has a listener of its own`);
  }
  if (out.maxBatch > out.maxQueue) {
    throw usageError(`${flag('maxBatch')} (${out.maxBatch}) must not exceed ${flag('maxQueue')} (${out.maxQueue}): such a batch could never be admitted`);
  }
  if (style === 'api') {
    if (validate.is.defined(given.logStream) && typeof given.logStream?.write !== 'function') {
      throw validate.invalidParameterError('options.logStream', 'a writable stream', given.logStream);
    }
    if (validate.is.defined(given.resolve) && typeof given.resolve !== 'function') {
      throw validate.invalidParameterError('options.resolve', 'a function (hostname) => Promise<{ address, family }[]>', given.resolve);
    }
    out.logStream = given.logStream;
    out.resolve = given.resolve;
  }
  return Object.freeze(out);
}

// A model named by a flag replaces the environment's models, whichever variable names them.
const MODEL_SOURCES = ['models', 'modelDir'];

/** An option's value from the text of its environment variable `name`, checked. */
function fromText(spec, text, name) {
  switch (spec.kind) {
    case 'models':
      return [text];
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw validate.invalidParameterError(name, 'a boolean (1, true, yes, on or 0, false, no, off)', text);
    case 'integer':
      return check(spec, integerOrText(text), name);
    default:
      return check(spec, text, name);
  }
}

/** Options from the CHORI_TORCH_<FLAG> variables of `env` that `raw` (the flags) lacks; empty ones are unset. */
function fromEnv(env, raw) {
  const flaggedModels = MODEL_SOURCES.some((key) => raw[key] !== undefined);
  const out = {};
  for (const spec of SPEC) {
    const name = envNameOf(spec);
    const text = env[name];
    if (text === undefined || text === '' || raw[spec.key] !== undefined) continue;
    if (flaggedModels && MODEL_SOURCES.includes(spec.key)) continue;
    out[spec.key] = fromText(spec, text, name);
  }
  // CHORI_TORCH_MODEL names one file, the more precise: it wins over a directory (the image sets one).
  if (out.models !== undefined) delete out.modelDir;
  return out;
}

/**
 * Parses `chori-torch serve` arguments, with CHORI_TORCH_<FLAG> variables of `env` for the flags
 * not given: `{ help: true }` or `{ options }` (normalized).
 */
function fromArgv(argv, env = process.env) {
  const parseOptions = { help: { type: 'boolean', short: 'h' } };
  for (const spec of SPEC) {
    parseOptions[flagOf(spec)] = spec.kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: spec.kind === 'models' };
  }
  const { values, positionals } = parseArgs({ args: argv, options: parseOptions, allowPositionals: true });
  if (values.help) return { help: true };
  if (positionals.length > 0) throw usageError(`serve takes no positional arguments (got ${positionals.join(' ')}); name models with --model`);
  const raw = {};
  for (const spec of SPEC) {
    let value = values[flagOf(spec)];
    if (value === undefined) continue;
    if (spec.kind === 'integer') value = integerOrText(value);
    raw[spec.key] = value;
  }
  Object.assign(raw, fromEnv(env, raw));
  return { options: normalize(raw, 'cli') };
}

/** Words of `text` in lines of at most `width` characters. */
function wrap(text, width) {
  const lines = [''];
  for (const word of text.split(' ')) {
    const last = lines.length - 1;
    if (lines[last] && lines[last].length + 1 + word.length > width) lines.push(word);
    else lines[last] = lines[last] ? `${lines[last]} ${word}` : word;
  }
  return lines;
}

function helpText() {
  const flags = SPEC.map((s) => `--${flagOf(s)}${s.arg ? ` ${s.arg}` : ''}`);
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  const rows = SPEC.map((s, i) => [flags[i], wrap(s.help, 98 - width).join(`\n  ${' '.repeat(width)}`)]);
  return `Usage: chori-torch serve [--model [NAME=]PATH]… [options]

Serves models over HTTP: POST /predict with the image bytes, multipart/form-data or JSON
{"input": "<base64>"} / {"inputs": [...]}; GET /healthz, /readyz, /models, /metrics;
POST /models/NAME/predict; TorchServe's GET /ping and POST /predictions/NAME. GET / is a web
page to try the models and watch the server's status (--no-ui turns it off). POST
/models/NAME/reload is served on the management listener only (--management-port, 8081, on
127.0.0.1). Keys: "Authorization: Bearer <key>" once --inference-key-file / --management-key-file
(or $CHORI_TORCH_INFERENCE_KEY / $CHORI_TORCH_MANAGEMENT_KEY) give them. docs/SERVING.md describes
every endpoint.

Options:
${rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`).join('\n')}
  ${'-h, --help'.padEnd(width)}show this help

SIGTERM or SIGINT, at any time (model loading included), stops accepting connections, lets
in-flight requests finish, unloads the models and exits 0; a second signal exits 1 at once.
GET /healthz answers 200 from the start (liveness); GET /readyz only once the models are loaded.

Every option is also an environment variable, CHORI_TORCH_ and the flag in capitals with
underscores (--max-queue N: CHORI_TORCH_MAX_QUEUE=N; booleans 1/0, true/false, yes/no, on/off;
CHORI_TORCH_MODEL names one model); a flag given wins over its variable.`;
}

module.exports = { normalize, fromArgv, helpText, envNameOf, SPEC, MODEL_NAME };
