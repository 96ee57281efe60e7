// Implementation of ThreadPool (the protocol is described in thread_pool.h).
#include "paste/thread_pool.h"

#include "paste/errors.h"

namespace paste {

ThreadPool::ThreadPool(int32_t num_threads) {
  PASTE_CHECK_ARG(num_threads >= 1 && num_threads <= 1024,
                  "num_threads must be in [1, 1024], got ", num_threads);
  workers_.reserve(num_threads - 1);
  for (int32_t i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunItems() {
  const int64_t n = n_;  // stable for the whole job: written under mu_ before the wake-up
  const auto& fn = *fn_;
  for (int64_t i = next_.fetch_add(1, std::memory_order_relaxed); i < n;
       i = next_.fetch_add(1, std::memory_order_relaxed)) {
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
      next_.store(n, std::memory_order_relaxed);  // nobody claims further items
    }
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;  // the last job this worker joined
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || (job_open_ && generation_ != seen); });
    if (stop_) return;
    seen = generation_;
    ++active_;
    lock.unlock();
    RunItems();
    lock.lock();
    if (--active_ == 0) done_.notify_one();
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  std::lock_guard<std::mutex> run_lock(run_mu_);
  if (workers_.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    ++generation_;
    job_open_ = true;
  }
  wake_.notify_all();
  RunItems();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return active_ == 0; });  // every item is claimed: close the job
    job_open_ = false;
    fn_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace paste
