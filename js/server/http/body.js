'use strict';
// Request bodies, within the body limit: raw bytes (readRaw), and the images of a POST /predict body:
//   multipart/form-data      one file part (busboy parses it)
//   application/json         {"input": "<base64>"} or {"inputs": ["<base64>", …]}, optional "topk"
//   anything else            the body is the image (image/*, application/octet-stream, or what
//                            `curl --data-binary` sends); the format is sniffed from the bytes.

const busboy = require('busboy');
const { ServerError, serverCodes, badRequest } = require('../core/errors');
const { is } = require('../../validate');

const BASE64 = /^(?:[A-Za-z0-9+/]*={0,2}|[A-Za-z0-9_-]*)$/;
const DATA_URL = /^data:[\w.+/-]*(?:;[\w.+-]+=[\w.+-]+)*;base64,/i;
const JSON_KEYS = ['input', 'inputs', 'topk'];

const tooLarge = (limit) =>
  // The rest of the body is not read: the connection closes after the answer.
  new ServerError(serverCodes.BODY_TOO_LARGE, `the request body is larger than the ${limit}-byte limit`, { closeConnection: true });

function mediaType(req) {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/** Feeds the body to `onChunk` until it ends (resolve) or goes past `limit` (reject with CHORI_BODY_TOO_LARGE, discarding the rest). */
function consume(req, limit, onChunk) {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > limit) return discard(req, reject, tooLarge(limit));
    let size = 0;
    let settled = false;
    const settle = (fn, value) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      fn(value);
    };
    const onData = (chunk) => {
      size += chunk.length;
      if (size > limit) return discard(req, (err) => settle(reject, err), tooLarge(limit));
      onChunk(chunk);
    };
    req.on('data', onData);
    req.once('end', () => settle(resolve));
    req.once('error', () => settle(reject, badRequest('the client closed the connection before the body was complete')));
    req.once('close', () => settle(reject, badRequest('the client closed the connection before the body was complete')));
  });
}

function discard(req, reject, err) {
  req.resume();
  reject(err);
}

async function readRaw(req, limit) {
  const chunks = [];
  await consume(req, limit, (chunk) => chunks.push(chunk));
  return Buffer.concat(chunks);
}

function decodeBase64(value, name) {
  if (typeof value !== 'string') throw badRequest(`${name} must be a base64 string, not ${value === null ? 'null' : typeof value}`);
  const text = value.replace(DATA_URL, '').replace(/\s+/g, '');
  if (!BASE64.test(text) || text.length % 4 === 1) throw badRequest(`${name} is not valid base64`);
  return Buffer.from(text, 'base64');
}

async function readJson(req, limit, maxBatch) {
  let body;
  try {
    body = JSON.parse((await readRaw(req, limit)).toString('utf8'));
  } catch (err) {
    if (err instanceof ServerError) throw err;
    throw badRequest(`the body is not valid JSON (${err.message})`);
  }
  if (!is.plainObject(body)) throw badRequest('the JSON body must be an object: {"input": "<base64>"} or {"inputs": [...]}');
  const unknown = Object.keys(body).find((k) => !JSON_KEYS.includes(k));
  if (unknown) throw badRequest(`unknown field "${unknown}" in the JSON body; expected ${JSON_KEYS.join(', ')}`);
  if ((body.input === undefined) === (body.inputs === undefined)) {
    throw badRequest('the JSON body needs exactly one of "input" (one base64 image) or "inputs" (an array of them)');
  }
  const topk = body.topk;
  if (body.input !== undefined) return { images: [decodeBase64(body.input, 'input')], batch: false, topk };
  if (!Array.isArray(body.inputs) || body.inputs.length === 0 || body.inputs.length > maxBatch) {
    throw badRequest(`"inputs" must be an array of 1 to ${maxBatch} base64 images`);
  }
  return { images: body.inputs.map((v, i) => decodeBase64(v, `inputs[${i}]`)), batch: true, topk };
}

async function readMultipart(req, limit) {
  let parser;
  try {
    parser = busboy({ headers: req.headers, limits: { fileSize: limit, files: 1, fields: 16, fieldSize: 1024 } });
  } catch (err) {
    throw badRequest(`malformed multipart/form-data request (${err.message})`);
  }
  let image = null;
  let failure = null;
  const fail = (err) => {
    failure ??= err;
  };
  const parsed = new Promise((resolve) => {
    parser.on('file', (_field, stream) => {
      const chunks = [];
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.on('limit', () => fail(tooLarge(limit)));
      stream.on('end', () => {
        image = Buffer.concat(chunks);
      });
    });
    parser.on('filesLimit', () => fail(badRequest('send one file per multipart request; JSON {"inputs": [...]} predicts a batch')));
    parser.on('error', (err) => {
      fail(badRequest(`malformed multipart/form-data body (${err.message})`));
      resolve();
    });
    parser.on('close', resolve);
  });
  await consume(req, limit, (chunk) => failure || parser.write(chunk));
  parser.end();
  await parsed;
  if (failure) throw failure;
  if (!image) throw badRequest('the multipart/form-data body has no file part');
  return { images: [image], batch: false };
}

/** → { images: Buffer[], batch: boolean, topk?: unknown } */
async function readImages(req, { maxBodyBytes, maxBatch }) {
  switch (mediaType(req)) {
    case 'multipart/form-data':
      return readMultipart(req, maxBodyBytes);
    case 'application/json':
      return readJson(req, maxBodyBytes, maxBatch);
    default:
      return { images: [await readRaw(req, maxBodyBytes)], batch: false };
  }
}

module.exports = { readImages, readRaw, mediaType, decodeBase64 };
