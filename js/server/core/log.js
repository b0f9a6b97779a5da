'use strict';
// One line per request (method, path, status, label or error code, execution time) and one per
// server event (loading models, model loaded or failed to load, listening, reload failed,
// stopping, stopped). Text for people, JSON lines for machines (--log-format json), or nothing.

function textValue(value) {
  return typeof value === 'string' && /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
}

function createLogger(format, stream = process.stdout) {
  if (format === 'none') return { request() {}, event() {} };
  const write = (record, text) => {
    stream.write(`${format === 'json' ? JSON.stringify(record) : `${record.time} ${text}`}\n`);
  };
  return {
    /** r: { method, route, path, status, ms, model?, version?, label?, code?, batch?, default?, level? (default: error for a status >= 500) } */
    request(r) {
      const record = { time: new Date().toISOString(), level: r.status >= 500 ? 'error' : 'info', msg: 'request', ...r };
      const outcome = r.label !== undefined ? JSON.stringify(r.label) : r.code ?? '-';
      const extras = [
        r.batch !== undefined ? `batch=${r.batch}` : '',
        r.default ? 'default=true' : '',
        r.model !== undefined ? `model=${r.model}@${r.version}` : '',
      ].filter(Boolean);
      write(record, [r.method, r.path, r.status, outcome, ...extras, `${r.ms.toFixed(1)} ms`].join(' '));
    },
    /** level: info | warn | error; fields: a flat object. */
    event(level, msg, fields = {}) {
      const record = { time: new Date().toISOString(), level, msg, ...fields };
      const details = Object.entries(fields).map(([k, v]) => `${k}=${textValue(v)}`);
      write(record, [level, msg, ...details].join(' '));
    },
  };
}

module.exports = { createLogger };
