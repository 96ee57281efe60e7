// Implementation notes for DispatchQueue (the design and memory orders are in dispatch_queue.h).
#include "paste/dispatch_queue.h"

#include <chrono>
#include <limits>
#include <thread>

#include "paste/errors.h"

namespace paste {

namespace {

constexpr int64_t kEmptyKey = -1;
constexpr uint64_t kFree = 0;
constexpr int32_t kMaxCapacity = 1 << 24;
// Job-table slots per ring cell: at most 2 live jobs per cell pair, so load <= 1/4.
constexpr int32_t kTableSlotsPerCell = 8;
constexpr int kSpinRounds = 16;

inline uint64_t StateOf(Lane lane) { return lane == Lane::kAuthoritative ? 1 : 2; }
inline uint64_t Pack(uint64_t generation, uint64_t state) { return generation << 8 | state; }
inline uint64_t GenerationOf(uint64_t word) { return word >> 8; }
inline uint64_t StateOfWord(uint64_t word) { return word & 0xff; }
inline Lane LaneOfState(uint64_t state) {
  return state == 1 ? Lane::kAuthoritative : Lane::kSpeculative;
}
inline int LaneIndex(Lane lane) { return lane == Lane::kAuthoritative ? 0 : 1; }

// splitmix64 finaliser: spreads consecutive ids over the table.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

// One lane: Vyukov's bounded MPMC ring of tickets. Reserve/Publish are split so that Promote can
// secure a cell before it commits the state change.
class DispatchQueue::Ring {
 public:
  struct Cell {
    std::atomic<uint64_t> sequence;
    Ticket ticket;
  };

  explicit Ring(uint32_t size) : mask_(size - 1), cells_(new Cell[size]) {
    for (uint32_t i = 0; i < size; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }

  // Claims the next free cell (its position in *pos), or nullptr when the ring is full. The
  // caller must Publish the cell: consumers reaching it wait (see "empty") until then.
  Cell* Reserve(uint64_t* pos) {
    uint64_t p = enqueue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell* cell = &cells_[p & mask_];
      uint64_t seq = cell->sequence.load(std::memory_order_acquire);
      auto diff = static_cast<int64_t>(seq - p);
      if (diff == 0) {
        if (enqueue_pos_.compare_exchange_weak(p, p + 1, std::memory_order_relaxed)) {
          *pos = p;
          return cell;
        }
      } else if (diff < 0) {
        return nullptr;
      } else {
        p = enqueue_pos_.load(std::memory_order_relaxed);
      }
    }
  }

  static void Publish(Cell* cell, uint64_t pos, Ticket ticket) {
    cell->ticket = ticket;
    cell->sequence.store(pos + 1, std::memory_order_release);
  }

  bool Pop(Ticket* ticket) {
    uint64_t p = dequeue_pos_.load(std::memory_order_relaxed);
    Cell* cell;
    for (;;) {
      cell = &cells_[p & mask_];
      uint64_t seq = cell->sequence.load(std::memory_order_acquire);
      auto diff = static_cast<int64_t>(seq - (p + 1));
      if (diff == 0) {
        if (dequeue_pos_.compare_exchange_weak(p, p + 1, std::memory_order_relaxed)) break;
      } else if (diff < 0) {
        return false;
      } else {
        p = dequeue_pos_.load(std::memory_order_relaxed);
      }
    }
    *ticket = cell->ticket;
    cell->sequence.store(p + mask_ + 1, std::memory_order_release);
    return true;
  }

 private:
  const uint64_t mask_;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<uint64_t> enqueue_pos_{0};
  alignas(64) std::atomic<uint64_t> dequeue_pos_{0};
};

struct DispatchQueue::Slot {
  std::atomic<int64_t> key{kEmptyKey};
  std::atomic<uint64_t> word{Pack(0, kFree)};
};

namespace {
constexpr uint32_t kNullSlot = std::numeric_limits<uint32_t>::max();
}  // namespace

DispatchQueue::DispatchQueue(int32_t capacity) {
  PASTE_CHECK_ARG(capacity > 0 && capacity <= kMaxCapacity, "capacity must be in [1, ",
                  kMaxCapacity, "], got ", capacity);
  int32_t size = 2;
  while (size < capacity) size *= 2;
  capacity_ = size;
  table_mask_ = static_cast<uint32_t>(kTableSlotsPerCell * size - 1);
  rings_[0] = std::make_unique<Ring>(size);
  rings_[1] = std::make_unique<Ring>(size);
  slots_ = std::make_unique<Slot[]>(static_cast<size_t>(kTableSlotsPerCell) * size);
  num_queued_[0].store(0, std::memory_order_relaxed);
  num_queued_[1].store(0, std::memory_order_relaxed);
}

DispatchQueue::~DispatchQueue() = default;

uint32_t DispatchQueue::HomeSlot(int64_t job_id) const {
  return static_cast<uint32_t>(Mix(static_cast<uint64_t>(job_id))) & table_mask_;
}

bool DispatchQueue::Find(int64_t job_id, uint32_t* slot, uint64_t* word) const {
  uint32_t home = HomeSlot(job_id);
  for (int32_t i = 0; i < kProbeWindow; ++i) {
    uint32_t s = (home + static_cast<uint32_t>(i)) & table_mask_;
    const Slot& entry = slots_[s];
    if (entry.key.load(std::memory_order_acquire) != job_id) continue;
    uint64_t w = entry.word.load(std::memory_order_acquire);
    // The key is re-read so that the word belongs to a job with this id (the slot may have
    // been freed and claimed again in between).
    if (StateOfWord(w) == kFree || entry.key.load(std::memory_order_acquire) != job_id) continue;
    *slot = s;
    *word = w;
    return true;
  }
  return false;
}

bool DispatchQueue::TryPush(int64_t job_id, Lane lane) {
  PASTE_CHECK_ARG(job_id >= 0, "job ids must be non-negative, got ", job_id);
  PASTE_CHECK_ARG(lane == Lane::kAuthoritative || lane == Lane::kSpeculative, "unknown lane ",
                  static_cast<int>(lane));
  uint32_t found_slot;
  uint64_t found_word;
  PASTE_CHECK_ARG(!Find(job_id, &found_slot, &found_word), "job ", job_id, " is already queued");
  // Claim a free slot in the probe window.
  uint32_t home = HomeSlot(job_id);
  Slot* slot = nullptr;
  uint32_t slot_index = 0;
  for (int32_t i = 0; i < kProbeWindow && slot == nullptr; ++i) {
    uint32_t s = (home + static_cast<uint32_t>(i)) & table_mask_;
    int64_t expected = kEmptyKey;
    if (slots_[s].key.load(std::memory_order_relaxed) == kEmptyKey &&
        slots_[s].key.compare_exchange_strong(expected, job_id, std::memory_order_acq_rel)) {
      slot = &slots_[s];
      slot_index = s;
    }
  }
  if (slot == nullptr) return false;  // window full: treated as a full queue
  uint64_t pos;
  Ring::Cell* cell = rings_[LaneIndex(lane)]->Reserve(&pos);
  if (cell == nullptr) {
    slot->key.store(kEmptyKey, std::memory_order_release);  // word is still FREE: unclaim
    return false;
  }
  uint64_t generation = GenerationOf(slot->word.load(std::memory_order_acquire));
  num_queued_[LaneIndex(lane)].fetch_add(1, std::memory_order_relaxed);
  slot->word.store(Pack(generation, StateOf(lane)), std::memory_order_release);
  Ring::Publish(cell, pos, Ticket{slot_index, generation});
  WakeSleepers();
  return true;
}

void DispatchQueue::Push(int64_t job_id, Lane lane) {
  if (!TryPush(job_id, lane)) {
    throw QueueFull(detail::Concat(
        "dispatch queue lane ", lane == Lane::kAuthoritative ? "authoritative" : "speculative",
        " is full (capacity ", capacity_, "); job ", job_id, " was not queued"));
  }
}

bool DispatchQueue::TryPopOne(PoppedJob* job) {
  for (Lane lane : {Lane::kAuthoritative, Lane::kSpeculative}) {
    Ring& ring = *rings_[LaneIndex(lane)];
    Ticket t;
    while (ring.Pop(&t)) {
      if (t.slot == kNullSlot) continue;  // a Promote that lost its race
      Slot& slot = slots_[t.slot];
      uint64_t expected = Pack(t.generation, StateOf(lane));
      if (slot.word.load(std::memory_order_acquire) != expected) continue;  // stale ticket
      int64_t job_id = slot.key.load(std::memory_order_acquire);
      if (!slot.word.compare_exchange_strong(expected, Pack(t.generation + 1, kFree),
                                             std::memory_order_acq_rel)) {
        continue;  // cancelled or promoted meanwhile
      }
      slot.key.store(kEmptyKey, std::memory_order_release);
      num_queued_[LaneIndex(lane)].fetch_sub(1, std::memory_order_relaxed);
      *job = PoppedJob{job_id, lane};
      return true;
    }
  }
  return false;
}

bool DispatchQueue::TryPop(PoppedJob* job) {
  PASTE_CHECK_ARG(job != nullptr, "job must not be null");
  return TryPopOne(job);
}

int32_t DispatchQueue::TryPopBatch(int32_t max_jobs, std::vector<PoppedJob>* out) {
  PASTE_CHECK_ARG(max_jobs >= 0, "max_jobs must be non-negative, got ", max_jobs);
  PASTE_CHECK_ARG(out != nullptr, "out must not be null");
  int32_t n = 0;
  PoppedJob job;
  while (n < max_jobs && TryPopOne(&job)) {
    out->push_back(job);
    ++n;
  }
  return n;
}

int32_t DispatchQueue::PopBatch(int32_t max_jobs, double timeout_s, std::vector<PoppedJob>* out) {
  PASTE_CHECK_ARG(timeout_s >= 0.0, "timeout_s must be non-negative, got ", timeout_s);
  int32_t n = TryPopBatch(max_jobs, out);
  if (n > 0 || max_jobs == 0) return n;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(timeout_s));
  for (int i = 0; i < kSpinRounds; ++i) {
    std::this_thread::yield();
    if ((n = TryPopBatch(max_jobs, out)) > 0) return n;
  }
  for (;;) {
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    num_sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    n = TryPopBatch(max_jobs, out);  // re-check after announcing the sleep (Dekker)
    bool timed_out = false;
    if (n == 0 && !closed()) {
      timed_out = sleep_cv_.wait_until(lock, deadline) == std::cv_status::timeout;
    }
    num_sleepers_.fetch_sub(1, std::memory_order_relaxed);
    lock.unlock();
    if (n > 0) return n;
    if ((n = TryPopBatch(max_jobs, out)) > 0) return n;
    if (timed_out || closed() || std::chrono::steady_clock::now() >= deadline) return 0;
  }
}

void DispatchQueue::WakeSleepers() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (num_sleepers_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    sleep_cv_.notify_one();
  }
}

bool DispatchQueue::Cancel(int64_t job_id) {
  uint32_t s;
  uint64_t w;
  while (Find(job_id, &s, &w)) {
    Slot& slot = slots_[s];
    if (slot.word.compare_exchange_strong(w, Pack(GenerationOf(w) + 1, kFree),
                                          std::memory_order_acq_rel)) {
      slot.key.store(kEmptyKey, std::memory_order_release);
      num_queued_[LaneIndex(LaneOfState(StateOfWord(w)))].fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    // The word changed (popped, cancelled or promoted): look again.
  }
  return false;
}

bool DispatchQueue::Promote(int64_t job_id) {
  uint32_t s;
  uint64_t w;
  if (!Find(job_id, &s, &w) || StateOfWord(w) != StateOf(Lane::kSpeculative)) return false;
  uint64_t pos;
  Ring::Cell* cell = rings_[LaneIndex(Lane::kAuthoritative)]->Reserve(&pos);
  if (cell == nullptr) return false;
  uint64_t generation = GenerationOf(w);
  bool won = slots_[s].word.compare_exchange_strong(
      w, Pack(generation, StateOf(Lane::kAuthoritative)), std::memory_order_acq_rel);
  if (won) {
    num_queued_[0].fetch_add(1, std::memory_order_relaxed);
    num_queued_[1].fetch_sub(1, std::memory_order_relaxed);
  }
  Ring::Publish(cell, pos, won ? Ticket{s, generation} : Ticket{kNullSlot, 0});
  if (won) WakeSleepers();
  return won;
}

void DispatchQueue::Close() {
  closed_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(sleep_mutex_);
  sleep_cv_.notify_all();
}

int64_t DispatchQueue::NumQueued(Lane lane) const {
  int64_t n = num_queued_[LaneIndex(lane)].load(std::memory_order_relaxed);
  return n < 0 ? 0 : n;
}

int32_t DispatchQueue::LaneOf(int64_t job_id) const {
  uint32_t s;
  uint64_t w;
  if (!Find(job_id, &s, &w)) return -1;
  return static_cast<int32_t>(LaneOfState(StateOfWord(w)));
}

}  // namespace paste
