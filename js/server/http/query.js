'use strict';
// Query parameters, strictly: an unknown or repeated one is a CHORI_BAD_REQUEST naming it.

const { badRequest } = require('../core/errors');

/** url: a URL; allowed: the parameter names the endpoint takes. → { name: value } */
function query(url, allowed) {
  const params = {};
  for (const [key, value] of url.searchParams) {
    if (!allowed.includes(key)) throw badRequest(`unknown query parameter "${key}"; this endpoint takes ${allowed.join(', ') || 'none'}`);
    if (key in params) throw badRequest(`query parameter "${key}" is given twice`);
    params[key] = value;
  }
  return params;
}

module.exports = { query };
