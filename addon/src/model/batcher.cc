#include "model/batcher.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>

#include "chori/error.h"
#include "common/thread_priority.h"

namespace chori::model {
namespace {

using Clock = std::chrono::steady_clock;

// Every running Batcher, so that exit() can stop them: process.exit() runs the static
// destructors of libtorch while an inference thread may still be inside forward(), which
// crashes. js/native.js calls closeAll() from process 'exit', before exit() begins; the atexit
// handler is the fallback for an exit() that bypasses Node. It runs before the destructors of
// statics constructed before it was registered, but not of those that oneDNN constructs lazily
// later (on a new batch shape, say), hence the JS hook.
std::mutex liveMutex;
std::set<Batcher*> live;

}  // namespace

void Batcher::closeAll() {
  std::lock_guard lock(liveMutex);
  for (Batcher* batcher : live) batcher->close();
}

Batcher::Batcher(const Backend& backend, BatchOptions options, bool outputsAreProbabilities)
    : backend_(backend),
      options_(options),
      outputsAreProbabilities_(outputsAreProbabilities) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) threads_.emplace_back([this, i] { run(i == 0); });
  static std::once_flag registered;
  std::call_once(registered, [] { std::atexit(closeAll); });
  std::lock_guard lock(liveMutex);
  live.insert(this);
}

Batcher::~Batcher() {
  {
    std::lock_guard lock(liveMutex);
    live.erase(this);
  }
  close();
}

void Batcher::announce() {
  std::lock_guard lock(mutex_);
  ++upstream_;
}

void Batcher::withdraw() {
  {
    std::lock_guard lock(mutex_);
    --upstream_;
  }
  wake_.notify_all();
}

void Batcher::submit(std::vector<float> input, int64_t height, int64_t width, Callback done) {
  {
    std::lock_guard lock(mutex_);
    --upstream_;
    if (closed_) throw Error(code::kDisposed, "the model has been disposed");
    queue_.push_back({std::move(input), height, width, std::move(done), Clock::now()});
  }
  wake_.notify_all();
}

void Batcher::runOnInferenceThread(std::function<void()> task) {
  std::packaged_task<void()> packaged(std::move(task));
  auto done = packaged.get_future();
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw Error(code::kDisposed, "the model has been disposed");
    tasks_.push_back(std::move(packaged));
  }
  wake_.notify_all();
  try {
    done.get();
  } catch (const std::future_error&) {  // dropped unrun by close()
    throw Error(code::kDisposed, "the model was disposed while it was being prepared");
  }
}

void Batcher::close() {
  std::deque<Job> abandoned;
  std::deque<std::packaged_task<void()>> unrun;  // destroyed below: their waiters get CHORI_DISPOSED
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    abandoned.swap(queue_);
    unrun.swap(tasks_);
  }
  wake_.notify_all();
  for (auto& job : abandoned) {
    RowResult result;
    result.error = std::make_exception_ptr(Error(code::kDisposed, "the model was disposed before this request ran"));
    job.done(std::move(result));
  }
  for (auto& thread : threads_) {
    if (!thread.joinable()) continue;
    // Only reachable from an inference thread itself if the env shut down while a result was
    // being delivered (the last reference then drops there); a thread cannot join itself.
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();
    } else {
      thread.join();
    }
  }
}

int Batcher::threadsForForward() const {
  // Alone: nothing else running, and nothing behind this batch, queued or still being decoded.
  const bool alone = coresInUse_ == 0 && queue_.empty() && upstream_ == 0;
  return alone ? options_.adaptiveCores : 1;
}

std::vector<Batcher::Job> Batcher::nextBatch(std::unique_lock<std::mutex>& lock) {
  wake_.wait(lock, [&] { return closed_ || !queue_.empty(); });
  if (queue_.empty()) return {};
  // Only inputs of the first one's size can share a tensor (without a crop, sizes vary).
  const int64_t h = queue_.front().height, w = queue_.front().width;
  auto sameSize = [&] {
    return std::count_if(queue_.begin(), queue_.end(), [&](const Job& j) { return j.height == h && j.width == w; });
  };
  const auto deadline = queue_.front().queued + std::chrono::duration<double, std::milli>(options_.maxDelayMs);
  wake_.wait_until(lock, deadline, [&] { return closed_ || upstream_ == 0 || sameSize() >= options_.maxBatch; });

  std::vector<Job> batch;
  for (auto it = queue_.begin(); it != queue_.end() && static_cast<int>(batch.size()) < options_.maxBatch;) {
    if (it->height == h && it->width == w) {
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return batch;
}

void Batcher::run(bool lead) {
  if (options_.background) backgroundThisThread();
  const bool adaptive = options_.adaptiveCores > 0;
  // Not the lead, under the scheduler: a batch taken while nothing runs would get every core.
  const auto mayTake = [&] { return lead || !adaptive || coresInUse_ > 0; };
  const auto hasTask = [&] { return lead && !tasks_.empty(); };
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return closed_ || hasTask() || (!queue_.empty() && mayTake()); });
    if (hasTask()) {
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();  // a packaged_task: what it throws reaches the waiter
      lock.lock();
      continue;
    }
    if (adaptive && !closed_ && coresInUse_ >= options_.adaptiveCores) {
      // Every core is taken by the forwards running now; one of them finishing wakes us.
      wake_.wait(lock, [&] { return closed_ || hasTask() || coresInUse_ < options_.adaptiveCores; });
      continue;
    }
    std::vector<Job> jobs = nextBatch(lock);
    if (jobs.empty()) {
      if (closed_) return;  // closed and drained
      continue;             // another worker took them while this one waited for companions
    }
    const int threads = adaptive ? threadsForForward() : options_.forwardThreads;
    if (adaptive) coresInUse_ += threads;
    lock.unlock();
    if (adaptive) wake_.notify_all();  // the other threads may take work now that one runs
    execute(jobs, threads);
    lock.lock();
    if (adaptive) {
      coresInUse_ -= threads;
      wake_.notify_all();
    }
  }
}

void Batcher::execute(std::vector<Job>& jobs, int threads) {
  const auto n = static_cast<int64_t>(jobs.size());
  const int64_t h = jobs.front().height, w = jobs.front().width;
  const size_t plane = static_cast<size_t>(3 * h * w);
  Batch batch{n, h, w, {}, threads};
  if (n == 1) {
    batch.data = std::move(jobs.front().input);
  } else {
    batch.data.resize(plane * n);
    for (int64_t i = 0; i < n; ++i) std::memcpy(batch.data.data() + i * plane, jobs[i].input.data(), plane * sizeof(float));
  }

  auto start = Clock::now();
  Output out;
  std::exception_ptr error;
  try {
    out = backend_.forward(batch, outputsAreProbabilities_);
  } catch (...) {
    error = std::current_exception();
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();

  for (int64_t i = 0; i < n; ++i) {
    RowResult result;
    result.batchSize = static_cast<int>(n);
    result.inferenceMs = ms;
    result.error = error;
    if (!error) {
      auto row = [&](const std::vector<float>& all) {
        auto first = all.begin() + i * out.classes;
        return std::vector<float>(first, first + out.classes);
      };
      result.logits = row(out.logits);
      result.probabilities = row(out.probabilities);
    }
    jobs[i].done(std::move(result));
  }
}

}  // namespace chori::model
