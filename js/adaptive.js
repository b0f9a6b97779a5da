'use strict';
// How load() runs a model when given neither `workers` nor `threads`: adaptive parallelism. One
// inference thread per core, and each forward picks its intra-op threads from the queue as it
// starts (addon/src/model/batcher.cc): every core when it is the only work, one when calls wait,
// never more than the cores in all. The thread count then changes from call to call, which only
// keeps the promise of exact answers for forms whose bits do not depend on it.

// Checked with bench/forms.py --determinism (fresh processes at 1, 2, 4 and 16 threads, fp32 and
// bf16; resnet18, resnet50, mobilenet_v3_large, efficientnet_b0, the demo model): 'onednn' gives
// the same bits at every count. 'freeze' and 'none' do not on resnet50 and mobilenet_v3_large in
// fp32, nor 'ofi' on resnet18: those run one forward per core at one thread each, the thread
// count `chori golden` uses by default. A .pt2 package keeps the fixed default (one worker with
// every core): its runners are sized at load, before the scheduler could know the format.
const THREAD_COUNT_INVARIANT = new Set(['onednn']);

/**
 * { workers, threads, adaptiveCores, forwardThreads } for the native configure(): adaptiveCores
 * > 0 turns the scheduler on; forwardThreads fixes every forward's threads (0: the load-time
 * `threads`). `fixed` is what the caller's options (or their defaults) say.
 */
function parallelism({ format, form, device, cores, scheduled, fixed }) {
  // On a GPU the cores do not do the forward: the caller's options (or their defaults) hold.
  if (!scheduled || format !== 'torchscript' || device !== 'cpu') return { ...fixed, adaptiveCores: 0, forwardThreads: 0 };
  if (THREAD_COUNT_INVARIANT.has(form) && cores > 1) return { workers: cores, threads: cores, adaptiveCores: cores, forwardThreads: 0 };
  return { workers: cores, threads: 1, adaptiveCores: 0, forwardThreads: 1 };
}

module.exports = { parallelism, THREAD_COUNT_INVARIANT };
