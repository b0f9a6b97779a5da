// What the linked libtorch is and what it will do on this machine, for `versions` and `doctor`.
// No torch types, like backend.h.
#pragma once

#include <string>

namespace chori::model {

struct RuntimeInfo {
  std::string torchVersion;   // TORCH_VERSION of the headers the addon was compiled against
  std::string libtorchDir;    // where that libtorch was (binding.gyp's CHORI_LIBTORCH_DIR)
  std::string cpuCapability;  // the kernel level ATen dispatches to on this CPU: DEFAULT, AVX2, AVX512
  std::string mkldnnVersion;  // oneDNN, which runs the convolutions
  std::string openmpVersion;
  int intraOpThreads = 0;     // libtorch's process-wide default (a model's `threads` overrides it)
  int interOpThreads = 0;
  // The CPU computes in bfloat16 natively (AVX512_BF16 or AMX-BF16, from cpuid through libtorch's
  // cpuinfo); without it precision 'bf16' is emulated and slower than fp32.
  bool nativeBf16 = false;
};

// Never throws: a field libtorch cannot report is left empty or 0.
RuntimeInfo runtimeInfo();

}  // namespace chori::model
