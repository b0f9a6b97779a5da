'use strict';
// TorchServe's inference API (docs/inference_api.md), for teams moving over: GET /ping and
// POST /predictions/{name}[/{version}] with the image as the body or as a multipart file part,
// answered as TorchServe's image_classifier handler does: {"label": probability, …}, the top 5,
// most probable first. Failures are TorchServe's ErrorResponse, {"code", "type", "message"},
// with our CHORI_* code leading the message.

const { codes } = require('../../errors');
const { ServerError, serverCodes } = require('../core/errors');
const { readImages, readRaw, mediaType } = require('../http/body');
const { hintHeaders } = require('../http/answer');
const { query } = require('../http/query');

// image_classifier.py: `topk = 5`, then torch.topk(softmax(output), 5).
const TOPK = 5;

const ERRORS = {
  [codes.INVALID_ARGUMENT]: [400, 'BadRequestException'],
  [codes.EMPTY_INPUT]: [400, 'BadRequestException'],
  [codes.DECODE]: [400, 'BadRequestException'],
  [codes.TRUNCATED]: [400, 'BadRequestException'],
  [codes.UNSUPPORTED_FORMAT]: [400, 'BadRequestException'],
  [codes.IMAGE_TOO_LARGE]: [413, 'RequestEntityTooLargeException'],
  [codes.DISPOSED]: [503, 'ServiceUnavailableException'],
  [serverCodes.BAD_REQUEST]: [400, 'BadRequestException'],
  [serverCodes.BODY_TOO_LARGE]: [413, 'RequestEntityTooLargeException'],
  [serverCodes.NOT_FOUND]: [404, 'ResourceNotFoundException'],
  [serverCodes.METHOD_NOT_ALLOWED]: [405, 'MethodNotAllowedException'],
  [serverCodes.MODEL_NOT_FOUND]: [404, 'ModelNotFoundException'],
  [serverCodes.MODEL_VERSION_NOT_FOUND]: [404, 'ModelVersionNotFoundException'],
  [serverCodes.NOT_READY]: [503, 'ServiceUnavailableException'],
  [serverCodes.OVERLOADED]: [503, 'ServiceUnavailableException'],
  [serverCodes.DEADLINE_EXCEEDED]: [504, 'RequestTimeoutException'],
  [serverCodes.UNAUTHENTICATED]: [401, 'InvalidKeyException'],
  [serverCodes.FORBIDDEN]: [403, 'InvalidKeyException'],
};

/** failure: core/errors.js classify()'s { code, message, hints }. */
function errorAnswer({ code, message, hints }) {
  const [status, type] = ERRORS[code] ?? [500, 'InternalServerException'];
  return { status, headers: hintHeaders(hints), body: { code: status, type, message: `${code}: ${message}` } };
}

/**
 * {"label": probability, …} in rank order, as Python's dict comprehension in TorchServe's
 * map_class_to_label builds it: a repeated label keeps its first place and its last value. Written
 * by hand because a JS object would move integer-like labels ("0", "1") to the front.
 */
function probabilitiesJson(topk) {
  const byLabel = new Map();
  for (const { label, score } of topk) byLabel.set(label, score);
  const members = [...byLabel].map(([label, score]) => `${JSON.stringify(label)}: ${JSON.stringify(score)}`);
  return `{${members.join(', ')}}\n`;
}

/** TorchServe names versions "1.0"; ours count up from 1: "2" and "2.0" both mean version 2. */
function sameVersion(asked, version) {
  return asked === String(version) || asked === `${version}.0`;
}

function versionNotFound(name, asked, current) {
  return new ServerError(serverCodes.MODEL_VERSION_NOT_FOUND, `Model version: ${asked} does not exist for model: ${name} (version ${current} is serving)`);
}

function routes({ dataPlane, options }) {
  /** The image: a multipart file part (curl -F data=@img.jpg) or the whole body (curl -T img.jpg). */
  async function image(req) {
    if (mediaType(req) === 'multipart/form-data') return (await readImages(req, options)).images[0];
    return readRaw(req, options.maxBodyBytes);
  }

  async function predictions(ctx, name, version) {
    query(ctx.url, []);
    const served = dataPlane.model(name); // unknown → 404, not loaded → 503, before the body is read
    if (version !== undefined && !sameVersion(version, served.version)) throw versionNotFound(name, version, served.version);
    const body = await image(ctx.req);
    const result = await dataPlane.infer(name, [body], { topk: TOPK, started: ctx.started });
    Object.assign(ctx.log, { model: result.model.name, version: result.model.version });
    // A reload between the check above and the forward: the answer came from another version.
    if (version !== undefined && !sameVersion(version, result.model.version)) throw versionNotFound(name, version, result.model.version);
    if (result.defaulted) {
      ctx.log.label = result.label;
      ctx.log.default = true;
      return { status: 200, headers: { 'X-Chori-Default': 'true' }, text: `${JSON.stringify({ [result.label]: null })}\n` };
    }
    const [outcome] = result.outcomes;
    if (outcome.status === 'rejected') throw outcome.reason;
    ctx.log.label = outcome.value.label;
    return { status: 200, text: probabilitiesJson(outcome.value.topk) };
  }

  /** TorchServe's ping: Healthy once every model serves, Partial Healthy when some failed, else 500. */
  function ping(ctx) {
    query(ctx.url, []);
    if (!dataPlane.ready) return { status: 500, body: { status: 'Unhealthy' } };
    return { status: 200, body: { status: dataPlane.failed().length > 0 ? 'Partial Healthy' : 'Healthy' } };
  }

  return [
    { route: '/ping', pattern: /^\/ping$/, access: 'public', methods: { GET: ping } },
    {
      route: '/predictions/:name[/:version]', pattern: /^\/predictions\/([^/]+)(?:\/([^/]+))?$/, access: 'inference',
      methods: { POST: predictions, PUT: predictions },
    },
  ];
}

module.exports = { name: 'torchserve', prefix: '/predictions', routes, errorAnswer, probabilitiesJson };
