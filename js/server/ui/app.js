// The try-it page: pick, drop or name an image, POST it to /models/NAME/predict as raw bytes (the
// same API as curl --data-binary), show the ranked labels; the model's facts come from /models.
// The status panel lives in status.js. No framework: a few elements, filled in by hand.

import { getKey, isKeyRefusal, request, setKey } from './api.js';
import { startStatus } from './status.js';

const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

/** A probability as the page shows it; the test formats the server's score the same way. */
export const percent = (score) => `${(score * 100).toFixed(2)} %`;

let models = [];
let previewUrl = null;
let retry = null; // what to do again once a key is given

function selectedModel() {
  return models.find((m) => m.name === $('model').value) ?? models[0];
}

function showError(err) {
  const box = $('error');
  if (!err) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  box.textContent = err.code ? `${err.code}: ${err.message}` : String(err.message ?? err);
  box.hidden = false;
}

/** A refused key shows the key form; `again` runs once a key is entered. Returns true when handled. */
function askKeyOn(err, again) {
  if (!isKeyRefusal(err)) return false;
  if (getKey()) setKey(null); // it was refused: ask again rather than resend it
  retry = again;
  $('key-why').textContent = `This server needs an inference key: ${err.message}.`;
  $('key-form').hidden = false;
  $('key').focus();
  return true;
}

// chori.json's provenance fields, named for people; others are shown by their own name.
const PROVENANCE_NAMES = {
  arch: 'Architecture',
  torch_version: 'torch',
  torchvision_version: 'torchvision',
  chori_torch_version: 'chori-torch',
  exported_at: 'Exported',
  method: 'Export method',
  weights_sha256: 'Weights SHA-256',
};
const short = (value) => (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value) ? `${value.slice(0, 16)}…` : value);

function fillList(dl, rows) {
  dl.replaceChildren();
  for (const [term, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    dl.append(el('dt', '', term), el('dd', '', String(value)));
  }
}

function renderFacts(model) {
  $('endpoint').textContent = `POST /models/${model ? encodeURIComponent(model.name) : '…'}/predict`;
  if (!model) {
    fillList($('facts'), []);
    fillList($('provenance'), []);
    return;
  }
  fillList($('facts'), [
    ['Name', `${model.name} (version ${model.version})`],
    ['Labels', model.labels.join(', ')],
    ['Input', describeInput(model.input)],
    ['Graph passes', model.optimize],
    ['Workers', model.workers],
    ['Self-check', model.self_check?.status],
    ['SHA-256', model.sha256 ? `${model.sha256.slice(0, 16)}…` : 'unknown'],
    ['Loaded', `${new Date(model.loaded_at).toLocaleString()} in ${Math.round(model.load_ms)} ms`],
  ]);
  const sha = [...$('facts').querySelectorAll('dt')].find((dt) => dt.textContent === 'SHA-256');
  if (sha && model.sha256) sha.nextElementSibling.title = model.sha256;
  const provenance = Object.entries(model.provenance ?? {});
  fillList($('provenance'), provenance.map(([key, value]) => [PROVENANCE_NAMES[key] ?? key.replace(/_/g, ' '), typeof value === 'object' ? JSON.stringify(value) : short(value)]));
  $('provenance-title').hidden = provenance.length === 0;
}

function describeInput(input) {
  if (!input) return undefined;
  const parts = [input.color_mode];
  if (input.resize) parts.push(`resize ${input.resize.join('×')}`);
  if (input.crop) parts.push(`crop ${input.crop.join('×')}`);
  if (input.interpolation) parts.push(input.interpolation);
  return parts.filter(Boolean).join(', ');
}

function renderModels() {
  const select = $('model');
  const previous = select.value;
  select.replaceChildren(...models.map((m) => {
    const option = el('option', '', m.default ? `${m.name} (default)` : m.name);
    option.value = m.name;
    return option;
  }));
  if (models.some((m) => m.name === previous)) select.value = previous;
  $('model-field').hidden = models.length < 2;
  renderFacts(selectedModel());
}

async function loadModels() {
  try {
    const answer = await request('models');
    models = answer.models;
    renderModels();
    showError(null);
  } catch (err) {
    if (!askKeyOn(err, loadModels)) showError(err);
  }
}

function renderResult(answer, source) {
  const result = $('result');
  const top = el('div', 'top');
  const heading = el('p', 'top-label', answer.label);
  heading.id = 'top-label';
  const meta = el('span', 'top-meta', `${answer.default ? 'default answer' : percent(answer.score)} · ${answer.latency_ms.toFixed(1)} ms · ${answer.model.name} v${answer.model.version}`);
  meta.id = 'latency';
  top.append(heading, meta);
  const list = el('ol', 'labels');
  list.setAttribute('aria-label', `Top ${answer.topk?.length ?? 0} labels for ${source}`);
  for (const row of answer.topk ?? []) {
    const item = el('li');
    item.dataset.label = row.label;
    item.dataset.score = String(row.score);
    const bar = el('span', 'bar');
    bar.setAttribute('aria-hidden', 'true');
    const fill = el('span');
    fill.style.width = `${Math.max(0, Math.min(100, row.score * 100))}%`;
    bar.append(fill);
    item.append(el('span', 'name', row.label), bar, el('span', 'pct', percent(row.score)));
    list.append(item);
  }
  result.replaceChildren(top, list);
}

async function predict(body, contentType, source, path) {
  const model = selectedModel();
  if (!model) return;
  const result = $('result');
  result.setAttribute('aria-busy', 'true');
  showError(null);
  try {
    const target = path ?? `models/${encodeURIComponent(model.name)}/predict`;
    const answer = await request(target, body === undefined ? {} : { method: 'POST', body, headers: { 'Content-Type': contentType } });
    renderResult(answer, source);
    status.refresh();
  } catch (err) {
    if (!askKeyOn(err, () => predict(body, contentType, source, path))) showError(err);
  } finally {
    result.setAttribute('aria-busy', 'false');
  }
}

function showPreview(file) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  const img = $('preview');
  img.src = previewUrl;
  img.alt = `The selected image, ${file.name}`;
  img.hidden = false;
  $('drop').classList.add('has-image');
  document.querySelector('.drop-title').textContent = 'Choose another image';
}

// A URL's image is fetched by the server, never by the page (the CSP allows no other origin):
// the preview of an earlier file would be misleading, so it goes.
function clearPreview() {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  const img = $('preview');
  img.removeAttribute('src');
  img.hidden = true;
  $('drop').classList.remove('has-image');
  document.querySelector('.drop-title').textContent = 'Choose an image';
}

function classifyFile(file) {
  if (!file) return;
  showPreview(file);
  // Always as bytes: the server sniffs the format from them, and a file's own type could make
  // it read the body as JSON or multipart instead.
  predict(file, 'application/octet-stream', file.name);
}

function wireDrop() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => classifyFile(e.target.files[0]));
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    classifyFile(e.dataTransfer.files[0]);
  });
  // A pasted image (a screenshot on the clipboard) is classified as a dropped one.
  document.addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) classifyFile(file);
  });
}

function wireForms() {
  $('model').addEventListener('change', () => renderFacts(selectedModel()));
  $('url-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = $('url').value.trim();
    const model = selectedModel();
    if (!url || !model) return;
    clearPreview();
    predict(undefined, undefined, url, `models/${encodeURIComponent(model.name)}/predict?url=${encodeURIComponent(url)}`);
  });
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setKey($('key').value.trim());
    $('key').value = '';
    $('key-form').hidden = true;
    const again = retry;
    retry = null;
    if (models.length === 0) loadModels();
    again?.();
  });
}

wireDrop();
wireForms();
loadModels();
const status = startStatus({
  onStatus: (status) => {
    $('url-form').hidden = !status.allow_url;
  },
  onNeedKey: (err) => askKeyOn(err, loadModels),
});
