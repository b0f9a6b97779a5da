#!/usr/bin/env node
'use strict';
// CUDA out-of-memory survival (tests/gpu/run.sh): a Python process takes nearly all of the GPU's
// free memory, a batch that needs more must reject with CHORI_INFERENCE, and once the memory is
// back the same model must answer again, batch included. Prints one JSON line; exit 1 on failure.
//   node tests/gpu/oom.js [--model export/model.pt] [--device cuda:0]

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { parseArgs } = require('node:util');
const chori = require('chori-torch');

const root = path.resolve(__dirname, '..', '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(root, 'export', 'model.pt') },
    device: { type: 'string', default: 'cuda:0' },
    batch: { type: 'string', default: '256' },
  },
});
const BATCH = Number(values.batch);

// Allocates 64 MiB blocks, then 1 MiB blocks, until the device is full; holds them until stdin closes.
const HOG = `
import sys, torch
dev = torch.device(${JSON.stringify(values.device)})
held = []
for size in (64 << 20, 1 << 20):
    while True:
        try:
            held.append(torch.empty(size, dtype=torch.uint8, device=dev))
        except torch.OutOfMemoryError:
            break
print(sum(t.numel() for t in held), flush=True)
sys.stdin.read()
`;

function hog() {
  const python = path.join(root, '.venv', 'bin', 'python');
  const child = spawn(python, ['-c', HOG], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ child, bytes: Number(String(d).trim()) }));
    child.once('exit', (code) => reject(new Error(`the memory hog exited with ${code} before filling the device`)));
  });
}

async function main() {
  const images = fs.readdirSync(path.join(root, 'export', 'images')).filter((f) => /\.(jpe?g|png)$/i.test(f))
    .map((f) => fs.readFileSync(path.join(root, 'export', 'images', f)));
  const model = await chori.load(values.model, { device: values.device, batch: true, maxBatch: BATCH, maxDelayMs: 200, maxQueue: 4 * BATCH });
  const burst = () => Promise.allSettled(Array.from({ length: BATCH }, (_, i) => model.predict(images[i % images.length])));
  const ok = (r) => r.status === 'fulfilled';

  const warm = await model.predict(images[0]);
  const { child, bytes } = await hog();
  const starved = await burst();
  const codes = [...new Set(starved.filter((r) => !ok(r)).map((r) => r.reason.code))];
  const oomMessage = starved.find((r) => !ok(r))?.reason.message ?? '';
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  const recovered = await burst();
  const again = await model.predict(images[0]);
  await model.dispose();

  const result = {
    heldGiB: +(bytes / 1024 ** 3).toFixed(2),
    starvedFailed: starved.filter((r) => !ok(r)).length,
    starvedCodes: codes,
    oomMessage: oomMessage.slice(0, 160),
    recoveredOk: recovered.filter(ok).length,
    sameLabel: again.label === warm.label,
  };
  const pass = result.starvedFailed > 0 && codes.length === 1 && codes[0] === 'CHORI_INFERENCE' &&
    /out of memory/i.test(oomMessage) && result.recoveredOk === BATCH && result.sameLabel;
  process.stdout.write(`${JSON.stringify({ pass, ...result })}\n`);
  process.exitCode = pass ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
