// Compiled by `tsc -p tests/types` (make lint): the declarations must accept real usage and
// reject misuse (the @ts-expect-error lines fail the build if the declarations loosen).
import chori = require('chori-torch');
import { readFileSync } from 'node:fs';

async function main(): Promise<void> {
  const buf = readFileSync('export/images/face_01.jpg');
  const r: chori.Prediction = await chori.predict(buf);
  const label: string = r.label;
  const score: number = r.topk[0].score;
  const m = await chori.load('export/model.pt', { threads: 2, maxPixels: 1_000_000, optimize: 'auto' });
  const form: chori.Optimization = m.info.optimize;
  const warmupMs: number = m.info.warmupMs;
  const format: 'torchscript' | 'pt2' = m.info.format;
  const pooled = await chori.load('export/model.pt', { workers: 2, threads: 1 });
  const workers: number = pooled.info.workers;
  const onGpu = await chori.load('export/model.pt', { device: 'cuda:1', deterministic: true, batch: true });
  const device: 'cpu' | `cuda:${number}` = onGpu.info.device;
  const driver: 'no-driver' | 'driver-error' | 'no-device' | 'ready' = chori.gpus().driver;
  // @ts-expect-error: not a device
  await chori.load('export/model.pt', { device: 'gpu' });
  const r2 = await m.predict(buf, { topk: 5, logits: true });
  const logits: Float32Array | undefined = r2.logits;
  const ms: number = r2.timings.decodeMs + r2.timings.inferenceMs;
  const t = await m.preprocess(new Uint8Array(buf));
  const [c, h, w]: [3, number, number] = t.shape;
  const fixed: [number, number] | null = m.inputSize;
  const fromTensor: chori.Prediction = await m.predictTensor(t, { logits: true });
  // @ts-expect-error: a tensor is { data, shape }, not bare floats
  await m.predictTensor(t.data);
  const labels: readonly string[] = m.labels;
  const size = m.metadata.input.crop;
  const warnings: readonly string[] = m.warnings;
  const libtorch: string = chori.versions.libtorch;
  const webp: string = chori.versions['libwebp'];
  // @ts-expect-error: versions is read-only
  chori.versions.libtorch = '0';
  await m.dispose();
  try {
    await m.predict(buf);
  } catch (err) {
    if (err instanceof chori.ChoriError && err.code === chori.codes.DISPOSED) return;
  }
  // @ts-expect-error: a string is not an image
  await chori.predict('face.jpg');
  // @ts-expect-error: unknown option
  await m.predict(buf, { topK: 3 });
  // @ts-expect-error: not an optimisation
  await chori.load('export/model.pt', { optimize: 'fast' });
  const server = await chori.serve({ models: { demo: 'export/model.pt' }, port: 0, allowPartial: true });
  const failedCodes: string[] = server.failed().map((f) => f.error.code);
  // @ts-expect-error: allowPartial is a boolean
  await chori.serve({ allowPartial: 'yes' });
  const locked = await chori.serve({
    port: 0, managementHost: '127.0.0.1', managementPort: 0, inferenceKeyFile: 'inference.key', managementKeyFile: 'management.key',
    protectMetrics: true, tlsCert: 'cert.pem', tlsKey: 'key.pem',
  });
  const managementUrl: string = locked.managementUrl;
  const grpcAddress: string | null = (await chori.serve({ port: 0, grpcPort: 8085 })).grpcAddress;
  // @ts-expect-error: grpcPort is a number
  await chori.serve({ grpcPort: '8085' });
  // @ts-expect-error: managementPort is a number
  await chori.serve({ managementPort: '8081' });
  const drained = await chori.serve({ port: 0, drainDelayMs: 5000, verify: 'top1' });
  const golden: 'exact' | 'top1' | 'differs' | 'failed' | 'absent' | 'checking' | 'off' = drained.models()[0].self_check.status;
  const maxDiff: number | null | undefined = drained.models()[0].self_check.max_abs_diff;
  // @ts-expect-error: not a policy
  await chori.serve({ verify: 'bits' });
  await server.close();
  void [device, driver, label, score, logits, ms, c, h, w, labels, size, form, warmupMs, warnings, libtorch, webp, failedCodes, managementUrl, fixed, fromTensor, grpcAddress, golden, maxDiff];
}

void main;
