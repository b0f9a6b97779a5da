'use strict';
// Adaptive parallelism, the default when load() is given neither `workers` nor `threads`: one
// inference thread per core, and each forward picks its intra-op threads from the queue as it
// starts (addon/src/model/batcher.cc): all cores when it is the only work, one when calls wait,
// never more than the cores in all. The thread count therefore changes from call to call, which
// only keeps the promise of exact answers for forms whose bits do not depend on it.

// Checked with bench/forms.py --determinism (fresh processes at 1, 2, 4 and 16 threads, fp32 and
// bf16; resnet18, resnet50, mobilenet_v3_large, the demo model): 'onednn' gives the same bits at
// every count. 'freeze' does not on mobilenet_v3_large (its fp32 bits differ between 1, 2 and 16
// threads), 'ofi' does not on resnet18, and a .pt2 package's kernels were compiled for their own
// thread count; those keep the fixed default (one worker with every core).
const THREAD_COUNT_INVARIANT = new Set(['onednn']);

/** Whether the scheduler may choose the thread count of each forward of this model. */
function appliesTo(format, form) {
  return format === 'torchscript' && THREAD_COUNT_INVARIANT.has(form);
}

module.exports = { appliesTo, THREAD_COUNT_INVARIANT };
