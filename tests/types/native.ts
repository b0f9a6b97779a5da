// The addon's interface (js/native.d.ts) against how js/model.js uses it.
import addon = require('../../js/native');

async function loadOnce(): Promise<void> {
  const loaded = await addon.native().load('/models/model.pt', { threads: 1, precision: 'bf16', device: 'cuda:0', batch: true });
  const precision: 'fp32' | 'bf16' = loaded.info.precision;
  const code: string = loaded.warnings[0].code;
  const prediction = await loaded.model.predict(new Uint8Array(4), 5, true);
  const score: number = prediction.topk[0].score;
  await loaded.model.dispose();
  // @ts-expect-error: the native side takes device names already resolved
  await addon.native().load('/models/model.pt', { device: 'cuda' });
  // @ts-expect-error: one options object, not positional arguments
  await addon.native().load('/models/model.pt', 2, 'fp32');
  // @ts-expect-error: configure() and optimize() are gone: load() does both
  loaded.model.configure({});
  void [precision, code, score];
}

void loadOnce;
