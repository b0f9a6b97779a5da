'use strict';
// GET /predict?url=…: fetches an image for a client, safely. Each hop (the URL, then every
// redirect) is resolved first and refused unless *all* its addresses are public
// (address-policy.js); the connection then goes to the address that was checked, never to a
// second DNS answer (no rebinding between check and connect). Size and time are limited.
// The resolver is injectable so the guard's decisions are tested without any connection.

const dns = require('node:dns');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const { ServerError, serverCodes } = require('./core/errors');
const { refusalReason } = require('./address-policy');

const defaultResolve = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/**
 * check(url) → { url, address, family }: the address to connect to, or an ServerError
 * (CHORI_URL_INVALID, CHORI_URL_FORBIDDEN). Nothing is sent anywhere, except DNS queries by the
 * default resolver. `refuse(address)` → reason | null is the address policy (tests narrow it).
 */
function createGuard({ resolve = defaultResolve, allowPrivate = false, refuse = refusalReason } = {}) {
  return async function check(input) {
    let url;
    try {
      url = input instanceof URL ? input : new URL(input);
    } catch {
      throw new ServerError(serverCodes.URL_INVALID, `url must be an absolute http or https URL, not ${JSON.stringify(String(input).slice(0, 200))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ServerError(serverCodes.URL_INVALID, `only http and https URLs are fetched, not ${url.protocol}`);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    let addresses;
    if (net.isIP(host)) {
      addresses = [{ address: host, family: net.isIP(host) }];
    } else {
      try {
        addresses = await resolve(host);
      } catch (err) {
        throw new ServerError(serverCodes.URL_FETCH, `could not resolve ${host} (${err.code ?? err.message})`);
      }
      if (!Array.isArray(addresses) || addresses.length === 0) {
        throw new ServerError(serverCodes.URL_FETCH, `${host} has no address`);
      }
    }
    if (!allowPrivate) {
      for (const { address } of addresses) {
        const reason = refuse(address);
        if (reason) {
          const via = address === host ? '' : ` (${host} resolves to ${address})`;
          throw new ServerError(serverCodes.URL_FORBIDDEN,
            `refusing to fetch ${url.origin}${via}: ${reason} addresses are not fetched (server-side request forgery guard; see --allow-private-urls)`);
        }
      }
    }
    return { url, address: addresses[0].address, family: addresses[0].family || net.isIP(addresses[0].address) };
  };
}

/** One request to the checked address; resolves with the response (not yet read). */
function requestOnce({ url, address, family }, signal) {
  const client = url.protocol === 'https:' ? https : http;
  const pinned = (_hostname, options, callback) =>
    options?.all ? callback(null, [{ address, family }]) : callback(null, address, family);
  return new Promise((resolve, reject) => {
    const req = client.request(url, {
      method: 'GET',
      lookup: pinned,
      signal,
      agent: false,
      headers: { accept: 'image/*', 'user-agent': `chori-torch/${require('../../package.json').version}` },
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

async function readLimited(res, maxBytes, origin) {
  const declared = Number(res.headers['content-length']);
  const tooLarge = () =>
    new ServerError(serverCodes.URL_TOO_LARGE, `the image at ${origin} is larger than the ${maxBytes}-byte limit`);
  if (declared > maxBytes) {
    res.destroy();
    throw tooLarge();
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of res) {
    size += chunk.length;
    if (size > maxBytes) {
      res.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** `promise`, or a rejection when `signal` aborts first (DNS lookups cannot be cancelled). */
function bounded(promise, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * fetchImage(url) → Buffer. Options: guard (from createGuard), maxBytes, timeoutMs (the whole
 * fetch, redirects included), maxRedirects.
 */
function createFetcher({ guard, maxBytes, timeoutMs, maxRedirects }) {
  return async function fetchImage(input) {
    const signal = AbortSignal.timeout(timeoutMs);
    let target = { url: { origin: String(input) } };
    try {
      target = await bounded(guard(input), signal);
      for (let hop = 0; ; hop += 1) {
        const res = await requestOnce(target, signal);
        const { statusCode: status, headers } = res;
        if (status >= 300 && status < 400 && headers.location) {
          res.resume();
          if (hop >= maxRedirects) {
            throw new ServerError(serverCodes.URL_FETCH, `${target.url.origin} redirected more than ${maxRedirects} times`);
          }
          target = await bounded(guard(new URL(headers.location, target.url)), signal);
          continue;
        }
        if (status !== 200) {
          res.resume();
          throw new ServerError(serverCodes.URL_FETCH, `${target.url.origin} answered ${status} for the image`);
        }
        return await readLimited(res, maxBytes, target.url.origin);
      }
    } catch (err) {
      if (err instanceof ServerError) throw err;
      if (signal.aborted) {
        throw new ServerError(serverCodes.URL_TIMEOUT, `fetching the image took longer than ${timeoutMs} ms`);
      }
      throw new ServerError(serverCodes.URL_FETCH, `fetching the image from ${target.url.origin} failed (${err.code ?? err.message})`);
    }
  };
}

module.exports = { createGuard, createFetcher, defaultResolve };
