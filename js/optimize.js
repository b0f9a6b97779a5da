'use strict';
// The load-time optimisation rule (docs/ARCHITECTURE.md, "Load-time optimisation"). `chori
// golden` applies the same rule in python/chori_torch/optimize.py: same names, same choice for
// 'auto', same warm-up, so the golden logits come from the graph the addon runs.

// Applied to the loaded TorchScript module, in this order:
//   none    the artifact as saved
//   freeze  torch.jit.freeze
//   ofi     freeze + torch.jit.optimize_for_inference
//   onednn  4-d parameters and the input channels-last, freeze, then oneDNN Graph fusion when the
//           profiling executor first specialises it (channels-last: the depthwise networks'
//           layout, bench/forms.py --study)
const FORMS = ['none', 'freeze', 'ofi', 'onednn'];
const CHOICES = ['auto', ...FORMS];
// The executor profiles the first run and compiles on the second; the third runs the result.
const WARMUP_RUNS = 3;

/** [height, width] of every model input when the spec fixes it (a crop, or a squashing resize). */
function staticInputSize(input) {
  if (input.fastaiResize) return input.fastaiResize.size;
  if (input.crop) return input.crop;
  if (input.resize?.length === 2) return input.resize;
  return null;
}

/**
 * 'auto' → 'onednn' when the input size is static: fastest at batch 1 on every CNN measured
 * (bench/forms.py) and bit-identical across processes and thread counts. oneDNN Graph compiles
 * one fused graph per input shape, so a model whose input size follows the image falls back to
 * 'freeze', whose answers do not depend on which shapes came first.
 */
function resolveOptimize(requested, input, device = 'cpu') {
  if (requested !== 'auto') return requested;
  if (device !== 'cpu') return 'freeze';
  return staticInputSize(input) ? 'onednn' : 'freeze';
}

// oneDNN's forms are CPU passes; on a CUDA device the graph runs as saved or frozen (cuDNN picks
// the kernels), and 'auto' is 'freeze'.
const CUDA_FORMS = ['none', 'freeze'];

/** The warm-up batch shape, or null when the input size is not known before the first image. */
function warmupShape(input) {
  const size = staticInputSize(input);
  return size ? [1, 3, size[0], size[1]] : null;
}

module.exports = { FORMS, CHOICES, CUDA_FORMS, WARMUP_RUNS, resolveOptimize, warmupShape, staticInputSize };
