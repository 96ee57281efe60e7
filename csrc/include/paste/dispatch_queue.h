// DispatchQueue: the lock-free queue of tool jobs between the engine and the tool workers.
//
// Two lanes: authoritative (calls the model made) and speculative (predicted calls). A pop
// always drains the authoritative lane first, so a speculative job never delays authoritative
// work by more than the pop that is already running (invariant 3, DESIGN.md). Payloads stay in
// Python; the queue carries int64 job ids (>= 0). A queued job can be cancelled (it is then
// never popped) and a queued speculative job can be promoted to the authoritative lane.
//
// Layout. Each lane is a bounded ring of `capacity` cells (Vyukov's MPMC ring: every cell has
// a sequence number that says whose turn it is). A cell does not hold the job itself but a
// ticket (slot, generation) into one shared job table; the table's slot holds the job's state:
//
//   authoritative ring  [ (3,g7) | (9,g2) |  ...  ]        job table (open addressing,
//   speculative ring    [ (5,g4) | (3,g6) |  ...  ]        8 x capacity slots, hashed by id)
//                                    |                     slot 3: key=42  word=(g7, AUTH)
//                  stale: slot 3 is now (g7, AUTH)  <----  slot 5: key=17  word=(g4, SPEC)
//
// The word of a slot packs (generation << 8 | state), state in {FREE, AUTH, SPEC}. A ticket is
// live iff the slot's word still equals (its generation, its lane's state); every change of
// owner bumps the generation, so a stale ticket can never match again (no ABA).
//   Push:    claim a FREE slot in the id's probe window (CAS key EMPTY -> id), reserve a
//            cell of the lane's ring (none: give the slot back, "full"), set the word to
//            (g, lane), then publish ticket (slot, g) in the cell.
//   Pop:     take tickets from the authoritative ring, then the speculative one; a ticket wins
//            the job by CAS word (g, lane) -> (g + 1, FREE); stale tickets are dropped.
//   Cancel:  find the id in its probe window, CAS word (g, AUTH|SPEC) -> (g + 1, FREE). The
//            ring cell is reclaimed lazily, when a consumer passes over it.
//   Promote: reserve a cell in the authoritative ring, CAS word (g, SPEC) -> (g, AUTH), then
//            publish ticket (slot, g) there (a null ticket if the CAS lost). The old
//            speculative ticket goes stale because the state no longer says SPEC.
// Exactly one CAS on the word ends a job's stay in the queue, so a job is popped exactly once
// or cancelled, never both. Why a hashed table and not `id % size`: callers choose ids, and an
// old speculative job must not block a new id that happens to share its residue. Slots are
// never moved (a lookup scans the id's whole probe window of kProbeWindow slots, so freeing a
// slot needs no tombstone); with at most 2 x capacity live jobs in 8 x capacity slots (load
// <= 1/4) a full window is practically impossible (~1e-9 per push at full load), and a push
// that meets one reports "full".
//
// Producer/consumer model: any number of threads may call every method concurrently
// (multi-producer, multi-consumer; Cancel and Promote from any thread). Order: FIFO per lane in
// ring order, so the jobs one producer pushes into a lane are popped in push order (a promoted
// job joins the authoritative lane's tail). Full: TryPush returns false when the lane's ring
// has no free cell (cells of cancelled/promoted jobs count until a consumer passes them).
//
// Memory orders (every atomic):
//   Cell::sequence       load acquire / store release: publishes the ticket written before it
//                        (producer -> consumer) and frees the cell (consumer -> producer).
//   Ring::enqueue_pos_,  relaxed loads and relaxed weak CAS: they only hand out positions;
//   Ring::dequeue_pos_   the cell's sequence carries all data ordering (as in Vyukov's ring).
//   Slot::key            claim CAS acq_rel (sees the previous owner's FREE word), release store
//                        to EMPTY after the word went FREE, acquire loads in lookups.
//   Slot::word           acquire loads, acq_rel CAS, release store at push (publishes key).
//   num_queued_[lane]    relaxed: statistics only, may lag.
//   num_sleepers_        seq_cst RMW + fence in consumers, seq_cst fence + load in producers
//                        (Dekker pattern with the ring publication): a producer either sees a
//                        sleeper and notifies under the mutex, or the sleeper's re-check sees
//                        the job. Producers touch the mutex only when somebody sleeps.
//   closed_              release store / acquire load.
#ifndef PASTE_DISPATCH_QUEUE_H_
#define PASTE_DISPATCH_QUEUE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace paste {

// A push into a full lane through Push() (TryPush returns false instead).
class QueueFull : public std::runtime_error {
 public:
  explicit QueueFull(const std::string& what) : std::runtime_error(what) {}
};

enum class Lane : int8_t { kAuthoritative = 0, kSpeculative = 1 };

struct PoppedJob {
  int64_t job_id;
  Lane lane;
};

class DispatchQueue {
 public:
  // capacity: cells per lane, rounded up to a power of two (>= 2).
  explicit DispatchQueue(int32_t capacity);
  DispatchQueue(const DispatchQueue&) = delete;
  DispatchQueue& operator=(const DispatchQueue&) = delete;
  ~DispatchQueue();

  int32_t capacity() const { return capacity_; }

  // Queues job_id (>= 0, not already queued) in `lane`. False when the lane is full.
  // Throws InvalidArgument for a negative or already queued id (the duplicate check is exact
  // only against pushes that finished before this one started).
  bool TryPush(int64_t job_id, Lane lane);
  // As TryPush, but throws QueueFull when the lane is full.
  void Push(int64_t job_id, Lane lane);

  // Pops one job (authoritative first) into *job. Never blocks; false when nothing poppable
  // is queued. Same decision as TryPopBatch(1, ...) without the vector (admission callers
  // that take one job per free slot, e.g. paste.tools' per-tool lanes).
  bool TryPop(PoppedJob* job);
  // Pops up to max_jobs jobs (authoritative first) and appends them to *out. Never blocks.
  // Returns the number popped.
  int32_t TryPopBatch(int32_t max_jobs, std::vector<PoppedJob>* out);
  // As TryPopBatch, but waits up to timeout_s seconds for at least one job (a short spin, then
  // a condition-variable sleep). Returns 0 on timeout or when the queue is closed and empty.
  int32_t PopBatch(int32_t max_jobs, double timeout_s, std::vector<PoppedJob>* out);

  // Removes a queued job. True iff the job was queued and is now cancelled: it will never be
  // popped. False when it is unknown, already popped or already cancelled.
  bool Cancel(int64_t job_id);
  // Moves a queued speculative job to the tail of the authoritative lane. False when the job is
  // not queued in the speculative lane (unknown, popped, cancelled, already authoritative) or
  // the authoritative lane is full.
  bool Promote(int64_t job_id);

  // Wakes every sleeping PopBatch; afterwards PopBatch returns at once when nothing is queued.
  // Pushes are still accepted (workers drain what is left).
  void Close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // Approximate number of queued jobs in a lane (exact when no call is in flight).
  int64_t NumQueued(Lane lane) const;
  // Lane of a queued job, or -1 when job_id is not queued. Racy by nature; for tests and tools.
  int32_t LaneOf(int64_t job_id) const;

 private:
  static constexpr int32_t kProbeWindow = 32;

  struct Ticket {
    uint32_t slot;
    uint64_t generation;
  };
  class Ring;
  struct Slot;

  uint32_t HomeSlot(int64_t job_id) const;
  // Slot holding job_id and the word read from it, or false.
  bool Find(int64_t job_id, uint32_t* slot, uint64_t* word) const;
  bool TryPopOne(PoppedJob* job);
  void WakeSleepers();

  int32_t capacity_;
  uint32_t table_mask_;
  std::unique_ptr<Ring> rings_[2];
  std::unique_ptr<Slot[]> slots_;
  std::atomic<int64_t> num_queued_[2];
  std::atomic<int32_t> num_sleepers_{0};
  std::atomic<bool> closed_{false};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
};

}  // namespace paste

#endif  // PASTE_DISPATCH_QUEUE_H_
