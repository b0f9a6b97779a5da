// The status panel: GET status.json every few seconds (the server derives it from the same
// prom-client registry as /metrics) and a sparkline of the mean prediction latency per refresh,
// computed here from the differences between two snapshots of the latency histogram's sum and count.

import { isKeyRefusal, request } from './api.js';

const PERIOD_MS = 2000;
const POINTS = 60; // two minutes at PERIOD_MS
const STATE_TEXT = { ready: 'Ready', loading: 'Loading models', draining: 'Draining', down: 'Unreachable' };

const $ = (id) => document.getElementById(id);
const ms = (value) => (value === null || value === undefined ? '–' : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`);

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function row(...texts) {
  const tr = document.createElement('tr');
  tr.append(...texts.map((t) => cell(String(t))));
  return tr;
}

function setState(state, detail) {
  const pill = $('state');
  pill.dataset.state = state;
  $('state-text').textContent = detail ? `${STATE_TEXT[state] ?? state} · ${detail}` : (STATE_TEXT[state] ?? state);
}

/** Mean latency of the predictions answered since the previous snapshot, or null when none were. */
function intervalMean(previous, latest) {
  if (!previous || !latest) return null;
  const count = latest.count - previous.count;
  return count > 0 ? (latest.sum_ms - previous.sum_ms) / count : null;
}

function drawSparkline(history) {
  const points = history.map((v, i) => [i, v]).filter(([, v]) => v !== null);
  const line = $('spark-line');
  const area = $('spark-area');
  const max = Math.max(...points.map(([, v]) => v), 0);
  $('spark-max').textContent = points.length > 0 ? `peak ${ms(max)}` : 'no predictions yet';
  if (points.length === 0) {
    line.setAttribute('points', '');
    area.setAttribute('points', '');
    return;
  }
  const [width, height, pad] = [300, 56, 4];
  // The newest point at the right edge, older ones to its left.
  const x = (i) => ((POINTS - history.length + i) / (POINTS - 1)) * width;
  const y = (v) => height - pad - (v / (max || 1)) * (height - 2 * pad);
  const coords = points.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  if (coords.length === 1) coords.push(`${(x(points[0][0]) - 4).toFixed(1)},${y(points[0][1]).toFixed(1)}`);
  line.setAttribute('points', coords.join(' '));
  const first = x(points[0][0]).toFixed(1);
  const last = coords[coords.length - 1].split(',')[0];
  area.setAttribute('points', `${first},${height} ${coords.join(' ')} ${last},${height}`);
}

function render(status) {
  setState(status.state);
  const { latency } = status;
  $('p50').textContent = ms(latency.p50_ms);
  $('p99').textContent = ms(latency.p99_ms);
  $('total').textContent = String(status.models.reduce((n, m) => n + m.ok + m.errors, 0));
  $('queue').textContent = String(status.models.reduce((n, m) => n + m.queue_depth, 0));
  $('models-body').replaceChildren(...status.models.map((m) => {
    const tr = row(m.name, m.version ?? '–', m.ok, m.errors, m.queue_depth, ms(m.p50_ms), ms(m.p99_ms));
    tr.dataset.model = m.name;
    return tr;
  }));
  const rejections = status.rejections;
  $('rejections-none').hidden = rejections.length > 0;
  $('rejections-table').hidden = rejections.length === 0;
  $('rejections-body').replaceChildren(...rejections.map((r) => row(r.status, r.code, r.count)));
  $('status-age').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

/** Polls status.json while the tab is visible. onStatus(status) after each answer. */
export function startStatus({ onStatus, onNeedKey }) {
  const history = [];
  let previous = null;
  let timer = null;
  let running = false;

  async function tick() {
    clearTimeout(timer);
    timer = null;
    if (running) return;
    running = true;
    try {
      const status = await request('status.json');
      history.push(intervalMean(previous?.latency, status.latency));
      while (history.length > POINTS) history.shift();
      previous = status;
      render(status);
      drawSparkline(history);
      onStatus(status);
    } catch (err) {
      if (isKeyRefusal(err)) {
        onNeedKey(err);
        setState('unknown', 'key needed');
      } else {
        setState('down', err.message);
      }
    } finally {
      running = false;
    }
    if (!document.hidden) timer = setTimeout(tick, PERIOD_MS);
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && timer === null && !running) tick();
  });
  tick();
  // A refresh right after a prediction, so the panel shows it without waiting for the period.
  return { refresh: tick };
}
