// Background priority for the threads that do the heavy work (decoding on the libuv pool, the
// inference thread and the OpenMP team it spawns), so that the JavaScript thread, which only
// copies bytes and settles Promises, is scheduled first when the cores are saturated: with all
// threads at one priority its wake-ups wait in the run queue behind them (event-loop delay).
// CFS gives a thread at nice +10 about a tenth of the share of one at nice 0; total throughput is
// unchanged, since the JS thread needs little CPU. CHORI_WORKER_NICE sets the increment (0 turns
// it off). New threads inherit their creator's nice value, so OpenMP's team, started by the
// inference thread's first parallel region, gets it too.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace chori {

inline int workerNiceIncrement() {
  static const int increment = [] {
    const char* env = std::getenv("CHORI_WORKER_NICE");
    if (env == nullptr || *env == '\0') return 10;
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    return (*end == '\0' && v >= 0 && v <= 19) ? static_cast<int>(v) : 10;
  }();
  return increment;
}

// Lowers the calling thread's priority once (Linux: nice is per thread). Best effort: failure
// (a sandbox without setpriority, say) leaves the thread as it was.
inline void backgroundThisThread() {
  thread_local bool done = false;
  if (done) return;
  done = true;
#ifdef __linux__
  const int increment = workerNiceIncrement();
  if (increment == 0) return;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (errno != 0) return;
  const int target = current + increment > 19 ? 19 : current + increment;
  if (target > current) setpriority(PRIO_PROCESS, tid, target);
#endif
}

}  // namespace chori
