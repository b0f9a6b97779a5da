// Where a backend's forward runs and how its input gets there. On the CPU the batch is read in
// place; on a CUDA device it is copied once into pinned host memory and from there to the
// device asynchronously, on the model's own stream, so the copy overlaps nothing else's work
// and the device-to-host copy of the result (detail::toOutput) waits for this model's kernels
// only. Only prepareCuda() (device.cc) must have run before a CUDA Placement is built.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <cstring>
#include <optional>

#include "model/backend.h"
#include "model/device.h"
#include "model/torch_util.h"

namespace chori::model::detail {

class Placement {
 public:
  explicit Placement(const Device& device)
      : device_(device.cuda ? c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device.index))
                            : c10::Device(c10::DeviceType::CPU)) {
    if (device.cuda) stream_ = c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).getNewStream(device_);
  }

  bool cuda() const { return device_.is_cuda(); }
  c10::Device device() const { return device_; }

  // The model input on the device. CPU: a view of `batch` (which must outlive it); CUDA: the
  // batch's one copy, issued on the model's stream (call inside onStream()).
  at::Tensor upload(const Batch& batch) const {
    at::Tensor host = inputTensor(batch);
    if (!cuda()) return host;
    // The CUDA host allocator's pinned blocks are cached and reused only once the copies that
    // read them have completed (it records an event on the stream), so freeing it at once is safe.
    at::Tensor pinned = at::empty(host.sizes(), at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
    std::memcpy(pinned.data_ptr(), batch.data.data(), batch.data.size() * sizeof(float));
    return pinned.to(at::TensorOptions().device(device_), /*non_blocking=*/true);
  }

  // Runs `body` with the model's stream (and device) current on this thread.
  template <typename F>
  auto onStream(F&& body) const {
    std::optional<c10::StreamGuard> guard;
    if (stream_) guard.emplace(*stream_);
    return body();
  }

  // [blocking] Waits for the work queued on the model's stream (the warm-up's, which returns
  // nothing to copy back).
  void synchronize() const {
    if (stream_) stream_->synchronize();
  }

  // [blocking] Waits for everything queued on the device: moving the weights there and the
  // freezing passes run on the default stream, and the forwards, on the model's own stream,
  // must not read the weights before those kernels have finished.
  void synchronizeDevice() const {
    if (cuda()) c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).synchronizeDevice(device_.index());
  }

 private:
  c10::Device device_;
  std::optional<c10::Stream> stream_;
};

}  // namespace chori::model::detail
