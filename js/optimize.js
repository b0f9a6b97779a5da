'use strict';
// The load-time forms load() accepts (docs/ARCHITECTURE.md, "Load-time optimisation"). What
// 'auto' resolves to, the warm-up and the parallelism each form allows are decided natively, in
// one place both front ends share (addon/src/model/loader.cc); `chori golden` applies the same
// rule in python/chori_torch/optimize.py, so the golden logits come from the graph the addon runs.

// Applied to the loaded TorchScript module, in this order:
//   none    the artifact as saved
//   freeze  torch.jit.freeze
//   ofi     freeze + torch.jit.optimize_for_inference
//   onednn  4-d parameters and the input channels-last, freeze, then oneDNN Graph fusion when the
//           profiling executor first specialises it (channels-last: the depthwise networks'
//           layout, bench/forms.py --study)
const FORMS = ['none', 'freeze', 'ofi', 'onednn'];
const CHOICES = ['auto', ...FORMS];

// oneDNN's forms are CPU passes; on a CUDA device the graph runs as saved or frozen (cuDNN picks
// the kernels), and 'auto' is 'freeze'.
const CUDA_FORMS = ['none', 'freeze'];

/** [height, width] of every model input when the spec fixes it (a crop, or a squashing resize). */
function staticInputSize(input) {
  if (input.fastaiResize) return input.fastaiResize.size;
  if (input.crop) return input.crop;
  if (input.resize?.length === 2) return input.resize;
  return null;
}

module.exports = { FORMS, CHOICES, CUDA_FORMS, staticInputSize };
