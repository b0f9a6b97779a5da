'use strict';
// GET /status.json: what the web page's status panel shows, read from the server's prom-client
// registry (the counters /metrics exposes), so the two can never disagree: readiness, per-model
// predictions, latency quantiles and queue depth, and the error answers by code.

/** The q-quantile of a cumulative histogram [{ le, count }] (le ascending, +Inf last), as Prometheus' histogram_quantile. */
function quantile(q, buckets) {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower; // past the last finite bound: that bound is all we know
      return lower + ((le - lower) * (rank - below)) / Math.max(count - below, 1);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** prom-client's JSON of one histogram, folded per value of `label`: Map(label → { buckets, sum, count }). */
function histograms(metric, label) {
  const out = new Map();
  const get = (key) => {
    if (!out.has(key)) out.set(key, { buckets: new Map(), sum: 0, count: 0 });
    return out.get(key);
  };
  for (const { metricName, labels, value } of metric?.values ?? []) {
    const entry = get(labels[label]);
    if (metricName.endsWith('_bucket')) {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      entry.buckets.set(le, (entry.buckets.get(le) ?? 0) + value);
    } else if (metricName.endsWith('_sum')) {
      entry.sum += value;
    } else if (metricName.endsWith('_count')) {
      entry.count += value;
    }
  }
  return out;
}

/** { count, sum_ms, p50_ms, p99_ms } of one folded histogram (several merged when given an array). */
function latencySummary(parts) {
  const merged = new Map();
  let sum = 0;
  let count = 0;
  for (const part of parts) {
    for (const [le, n] of part.buckets) merged.set(le, (merged.get(le) ?? 0) + n);
    sum += part.sum;
    count += part.count;
  }
  const buckets = [...merged].map(([le, n]) => ({ le, count: n })).sort((a, b) => a.le - b.le);
  const ms = (q) => {
    const seconds = quantile(q, buckets);
    return seconds === null ? null : round(seconds * 1000);
  };
  return { count, sum_ms: round(sum * 1000), p50_ms: ms(0.5), p99_ms: ms(0.99) };
}

const round = (x) => Math.round(x * 1000) / 1000;

/** The status document. dataPlane: core/dataplane.js's; options: normalized. */
async function status(dataPlane, options) {
  const json = await dataPlane.metrics.register.getMetricsAsJSON();
  const byName = new Map(json.map((m) => [m.name, m]));
  const values = (name) => byName.get(name)?.values ?? [];

  const served = new Map(dataPlane.models().map((m) => [m.name, m]));
  const names = dataPlane.registry.names;
  const latency = histograms(byName.get('chori_inference_duration_seconds'), 'model');
  const count = (name, labels) => values(name)
    .filter((v) => Object.entries(labels).every(([k, want]) => (typeof want === 'function' ? want(v.labels[k]) : v.labels[k] === want)))
    .reduce((n, v) => n + v.value, 0);

  const models = names.map((name) => {
    const summary = latencySummary(latency.has(name) ? [latency.get(name)] : []);
    return {
      name,
      version: served.get(name)?.version ?? null,
      ok: count('chori_predictions_total', { model: name, outcome: 'ok' }),
      errors: count('chori_predictions_total', { model: name, outcome: (o) => o !== 'ok' }),
      queue_depth: count('chori_queue_depth', { model: name }),
      p50_ms: summary.p50_ms,
      p99_ms: summary.p99_ms,
    };
  });

  const rejections = new Map();
  for (const { labels, value } of values('chori_http_errors_total')) {
    const key = `${labels.status} ${labels.code}`;
    const row = rejections.get(key) ?? { status: Number(labels.status), code: labels.code, count: 0 };
    row.count += value;
    rejections.set(key, row);
  }

  let state = 'ready';
  if (dataPlane.draining) state = 'draining';
  else if (!dataPlane.ready) state = 'loading';
  return {
    state,
    allow_url: options.allowUrl,
    models,
    latency: latencySummary([...latency.values()]),
    rejections: [...rejections.values()].filter((r) => r.count > 0).sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)),
  };
}

module.exports = { status, quantile };
