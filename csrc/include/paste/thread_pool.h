// ThreadPool: a small persistent pool for the CPU kernels (paged attention), without OpenMP.
//
// Why not OpenMP: torch ships its own libgomp, and a second OpenMP runtime in the same process
// keeps its own spinning workers, so the two oversubscribe the few cores we have. This pool
// owns num_threads - 1 workers that sleep on a condition variable between jobs; the calling
// thread is the num_threads-th worker of every job.
//
// One job = ParallelFor(n, fn): items 0..n-1 are claimed one at a time from a shared atomic
// counter (dynamic scheduling, so callers should list expensive items first):
//
//   caller:  open job (under mu_) -> wake workers -> claim items until none is left
//            -> wait until active_ == 0 -> close job (under mu_)
//   worker:  wake -> join if a job is open and new to it (++active_ under mu_)
//            -> claim items until none is left -> --active_ (under mu_)
//
// The caller waits only for workers that joined, not for all of them: on a busy machine a
// worker that is not scheduled in time simply misses the job, and the caller (which always
// works too) finishes it alone instead of waiting for a wake-up. A worker cannot join a closed
// job, and a job is closed only when no joined worker is left, so no worker ever runs an item
// of one job with another job's function.
//
// Memory order: the job (fn, n) and the reset of next_ are published under mu_, which orders
// them before any worker that joins reads them. next_ is only ever advanced by fetch_add, so
// relaxed order is enough for "each item is claimed exactly once"; the writes fn makes are
// published back to the caller by the mutex around active_. ParallelFor calls from several
// threads are serialised (run_mu_), so the pool can be shared.
#ifndef PASTE_THREAD_POOL_H_
#define PASTE_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace paste {

class ThreadPool {
 public:
  // num_threads >= 1 counts the caller: 1 means no worker thread at all.
  explicit ThreadPool(int32_t num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int32_t num_threads() const { return static_cast<int32_t>(workers_.size()) + 1; }

  // Calls fn(i) exactly once for every i in [0, n) and returns when all calls have returned.
  // If a call throws, items not yet claimed are skipped and the first exception is rethrown
  // here once every thread has left the job.
  void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunItems();  // claims and runs items of the current job until none is left

  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one job at a time

  std::mutex mu_;
  std::condition_variable wake_;  // workers: a job was opened, or stop_
  std::condition_variable done_;  // caller: active_ reached 0
  const std::function<void(int64_t)>* fn_ = nullptr;  // guarded by mu_; read after joining
  int64_t n_ = 0;                                      // guarded by mu_; read after joining
  uint64_t generation_ = 0;                            // guarded by mu_; +1 per job
  bool job_open_ = false;  // guarded by mu_; workers may join the current job
  int32_t active_ = 0;     // guarded by mu_; workers that joined the job and have not left it
  bool stop_ = false;      // guarded by mu_
  std::exception_ptr error_;  // guarded by mu_; first exception of the current job
  std::atomic<int64_t> next_{0};  // next unclaimed item (relaxed, see above)
};

}  // namespace paste

#endif  // PASTE_THREAD_POOL_H_
