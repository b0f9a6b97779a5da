// Dynamic batching on dedicated inference threads, as Clipper does it: concurrent requests on
// one model are gathered into one forward, up to maxBatch inputs or maxDelayMs of waiting.
// With several workers, each inference thread takes the next batch from the shared queue, so
// that many forwards of one model run at once (each with the model's intra-op `threads`).
// The wait is adaptive: the thread only waits while more requests are still being decoded
// (announced but not yet submitted), so a lone request never pays the delay.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "model/backend.h"

namespace chori::model {

struct BatchOptions {
  int maxBatch = 8;         // 1 turns batching off
  double maxDelayMs = 5.0;  // longest a request waits for companions
  // Run the inference thread (and so its OpenMP team) at background priority
  // (common/thread_priority.h): what the Node front end wants, to keep its event loop responsive;
  // a C++ program has no event loop to protect, and its own threads would then starve inference.
  bool background = false;
  // Inference threads of this model. More than one runs forwards concurrently: on few cores,
  // two single-threaded forwards keep the cores busier than one two-threaded forward whose
  // small convolutions do not split well (resnet18, 2 cores: about 1.1× the throughput).
  int workers = 1;
  // Adaptive parallelism (0 = off): `workers` inference threads share this many cores, and each
  // forward takes its intra-op thread count from the queue when it starts: all of them when it
  // is the only work (lowest latency), one when calls are waiting or other forwards run (one
  // forward per core, highest throughput). A forward starts only when its threads are free, so
  // the cores are never oversubscribed. Only for forms whose answers do not depend on the
  // thread count (model/loader.cc decides).
  int adaptiveCores = 0;
  // Without adaptiveCores: the intra-op threads of every forward (0 = the model's load-time
  // `threads`). The default's fallback for forms that are not thread-count deterministic sets 1.
  int forwardThreads = 0;
};

// What one request gets back: its own row of the batch output, or the failure.
struct RowResult {
  std::exception_ptr error;
  std::vector<float> logits, probabilities;
  int batchSize = 0;
  double inferenceMs = 0;
};

class Batcher {
 public:
  using Callback = std::function<void(RowResult)>;  // called on the inference thread

  Batcher(const Backend& backend, BatchOptions options, bool outputsAreProbabilities);
  ~Batcher();  // close()s
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // A request has started decoding and will be submitted (or withdrawn) soon.
  void announce();
  void withdraw();
  // Queues one preprocessed input (3×H×W). Throws chori::Error(CHORI_DISPOSED) once closed.
  void submit(std::vector<float> input, int64_t height, int64_t width, Callback done);
  // [blocking] Runs `task` on an inference thread, ahead of queued batches, and returns once it
  // has run (rethrowing what it threw; CHORI_DISPOSED when closed first). Preparing a model
  // (load-time passes, warm-up) must run on the thread that will run its forwards: libgomp gives
  // every thread that opens a parallel region its own team, and two teams on two cores throttle
  // each other's barriers into futex waits (measured: forwards 2–2.5× slower).
  void runOnInferenceThread(std::function<void()> task);
  // [blocking] Fails queued requests with CHORI_DISPOSED, lets the running batch finish, joins.
  void close();
  // [blocking] close() on every live Batcher: before the process exits.
  static void closeAll();

 private:
  struct Job {
    std::vector<float> input;
    int64_t height, width;
    Callback done;
    std::chrono::steady_clock::time_point queued;
  };

  // lead: the first inference thread. Under the adaptive scheduler only it runs forwards on more
  // than one core, and the preparation tasks: libgomp throttles every team's spinning to a few
  // hundred iterations once it manages more threads than there are cores, so a second team (one
  // per inference thread that ever ran a multi-threaded forward) turned every barrier of a lone
  // forward into a futex wait (mobilenet_v3_large: 5.9 ms against 3.2 ms with one team). The
  // other threads only take work while some forward is running, so theirs is one-threaded.
  void run(bool lead);
  std::vector<Job> nextBatch(std::unique_lock<std::mutex>& lock);
  int threadsForForward() const;  // adaptive, under mutex_, for the batch just taken
  void execute(std::vector<Job>& jobs, int threads);

  const Backend& backend_;
  const BatchOptions options_;
  const bool outputsAreProbabilities_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::deque<std::packaged_task<void()>> tasks_;
  int upstream_ = 0;
  int coresInUse_ = 0;  // adaptive: intra-op threads of the forwards running now
  bool closed_ = false;
  std::vector<std::thread> threads_;  // last: started once everything above is initialised
};

}  // namespace chori::model
