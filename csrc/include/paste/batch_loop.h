// BatchLoop: the continuous-batching scheduler of one engine.
//
// There is no prefill phase and no decode phase. Each sequence has num_tokens (prompt, tool
// results and sampled tokens so far) and num_computed_tokens (tokens whose KV is in the cache);
// every step, Schedule() lets each scheduled sequence catch up by up to the step's token
// budget: a running decode needs 1 token, a new or returning sequence needs its whole uncached
// tail, cut into chunks when the budget is short (chunked prefill). Running sequences go first,
// highest priority first (ties: earliest arrival); when one of them needs a block and none is
// free, expired pins are reclaimed, then unexpired pins, then the lowest-priority running
// sequence is preempted (its blocks freed; it is recomputed later, usually from the prefix
// cache). Waiting sequences (new, returning from a tool, preempted) are admitted in priority
// order while seats (max_num_seqs), budget and blocks last, reclaiming only expired pins for
// them, and no admission happens in a step that preempted. A new sequence first takes its
// longest cached prefix, capped so that at least its last token is computed (its logits are
// needed). Commit() receives one sampled token per sequence that reached its last token this
// step, appends it and reports each as an event with its finish reason (stop token, length).
// A finished sequence is freed, or parked with its KV pinned (park_on_finish) so that the next
// turn of an agent session only prefills the new tokens.
//
// Sequence states:  waiting --admit--> running --finish--> parked --resume--> waiting
//                      ^--- preempt ------'   \--finish--> (freed)
//
// Not thread-safe: one engine thread calls Schedule() and Commit() alternately; the other
// mutators (Add, Park, Resume, Free) are refused between Schedule() and Commit().
#ifndef PASTE_BATCH_LOOP_H_
#define PASTE_BATCH_LOOP_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "paste/block_manager.h"

namespace paste {

struct BatchLoopConfig {
  int32_t num_blocks = 1024;
  int32_t block_size = 16;
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 2048;
  int32_t max_model_len = 4096;
  bool enable_prefix_caching = true;
  int32_t hash_bits = 64;  // < 64 only in tests (forces hash collisions)
};

struct SeqParams {
  int32_t max_tokens = 256;              // sampled tokens allowed in the current turn
  std::vector<int32_t> stop_token_ids;   // a sampled token in this list finishes the turn
  double priority = 0.0;                 // higher runs first and is preempted last
  bool park_on_finish = false;           // keep KV pinned after the turn instead of freeing
  double pin_ttl_s = 30.0;               // pin expiry = finish time + pin_ttl_s
};

enum class SeqStatus : int8_t { kWaiting = 0, kRunning = 1, kParked = 2 };
enum class FinishReason : int8_t { kNone = 0, kStop = 1, kLength = 2 };

// What to compute this step, as flat arrays (n scheduled sequences, T tokens, m samplers).
struct StepPlan {
  int64_t step = 0;
  std::vector<int64_t> seq_ids;              // [n] batch order
  std::vector<int32_t> query_start_loc;      // [n+1] token offsets of each sequence
  std::vector<int32_t> num_computed_tokens;  // [n] KV tokens before this step
  std::vector<int32_t> seq_lens;             // [n] KV tokens after this step
  std::vector<int32_t> input_ids;            // [T]
  std::vector<int32_t> positions;            // [T]
  std::vector<int32_t> slot_mapping;         // [T] block_id * block_size + offset
  std::vector<int32_t> kv_indptr;            // [n+1] CSR block table (FlashInfer layout)
  std::vector<int32_t> kv_indices;           // [kv_indptr[n]]
  std::vector<int32_t> kv_last_page_len;     // [n]
  std::vector<int32_t> logits_indices;       // [m] token index of each sampler's last token
  std::vector<int64_t> sample_seq_ids;       // [m]
  std::vector<int64_t> preempted_seq_ids;    // running sequences sent back to waiting
  std::vector<int64_t> reclaimed_seq_ids;    // parked/returning sequences whose pinned KV was freed
  std::vector<int64_t> admitted_seq_ids;     // waiting sequences admitted this step
  std::vector<int32_t> admitted_num_reused;  // [a] tokens whose KV was reused at admission
  int32_t num_tokens() const { return static_cast<int32_t>(input_ids.size()); }
};

// What Commit() did, one entry per sampled token, in plan order.
struct StepEvents {
  std::vector<int64_t> seq_ids;
  std::vector<int32_t> tokens;
  std::vector<int8_t> finish_reasons;  // FinishReason
};

struct LoopStats {
  int64_t num_steps = 0;
  int64_t num_preemptions = 0;
  int64_t num_reclaimed_pins = 0;
  int64_t num_admitted_tokens = 0;  // tokens of sequences at their admission
  int64_t num_reused_tokens = 0;    // of which KV was reused (prefix cache or retained pin)
};

struct SeqInfo {
  SeqStatus status;
  int32_t num_tokens;
  int32_t num_computed_tokens;
  int32_t num_output_tokens;  // sampled in the current turn
  double priority;
  bool has_blocks;
};

class BatchLoop {
 public:
  explicit BatchLoop(const BatchLoopConfig& config);
  ~BatchLoop();

  // Adds a waiting sequence and returns its id (0, 1, 2, ...).
  int64_t AddSequence(const int32_t* tokens, int32_t num_tokens, const SeqParams& params);
  // Appends tokens (a tool result, a user message) to a parked sequence and makes it wait for
  // admission with a new turn of max_tokens; its retained KV stays pinned until admitted.
  // The new turn's stop tokens and pin time replace the previous turn's when given (a
  // turn's parameters are its own; nullopt keeps them).
  void Resume(int64_t seq_id, const int32_t* tokens, int32_t num_tokens, int32_t max_tokens,
              double priority,
              const std::optional<std::vector<int32_t>>& stop_token_ids = std::nullopt,
              std::optional<double> pin_ttl_s = std::nullopt);
  // Ends a running or waiting sequence's turn now: it becomes parked with pin `expiry`.
  void Park(int64_t seq_id, double expiry);
  // Drops a sequence in any state and frees its blocks.
  void Free(int64_t seq_id);
  void SetPriority(int64_t seq_id, double priority);

  // The returned plan (and the events of Commit) live in buffers owned by the loop and
  // overwritten by the next call. Their capacity is reserved at construction for the largest
  // possible step, so pointers into them stay valid for the loop's lifetime (zero-copy views).
  const StepPlan& Schedule(double now);
  // sampled[i] is the token for plan.sample_seq_ids[i].
  const StepEvents& Commit(const int32_t* sampled, int32_t num_sampled);
  // Drops the scheduled step without committing it (the model step failed): no sequence
  // advances, so the next Schedule() plans the same tokens again. Admissions, preemptions and
  // the blocks allocated for the step stand (the tokens' KV is simply written again).
  void AbandonStep();
  const StepPlan& last_plan() const { return plan_; }
  const StepEvents& last_events() const { return events_; }
  int64_t num_commits() const { return num_commits_; }

  bool HasSequence(int64_t seq_id) const { return seqs_.count(seq_id) != 0; }
  SeqInfo GetSeqInfo(int64_t seq_id) const;
  std::vector<int32_t> Tokens(int64_t seq_id) const;
  int32_t NumWaiting() const { return static_cast<int32_t>(waiting_.size()); }
  int32_t NumRunning() const { return static_cast<int32_t>(running_.size()); }
  int32_t NumParked() const { return num_parked_; }
  bool HasUnfinished() const { return !waiting_.empty() || !running_.empty(); }
  bool StepInFlight() const { return in_flight_; }
  const BatchLoopConfig& config() const { return config_; }
  const BlockManager& block_manager() const { return blocks_; }
  const LoopStats& stats() const { return stats_; }
  std::vector<int64_t> RunningOrder() const;
  std::vector<int64_t> WaitingOrder() const;

 private:
  struct Sequence;
  Sequence& Get(int64_t seq_id) const;
  void CheckNotInFlight(const char* what) const;
  void InsertSorted(std::vector<Sequence*>& queue, Sequence* seq);
  void SortQueues();
  const std::vector<int32_t>* EnsureBlocksForRunning(Sequence* seq, int32_t num_slots, double now);
  bool TryAdmit(Sequence* seq, int32_t budget, double now);
  void Preempt(Sequence* seq);
  void MarkReclaimed(const std::vector<int64_t>& ids);
  void AddToPlan(Sequence* seq, int32_t num_new, const std::vector<int32_t>& table);
  void FinishTurn(Sequence* seq, FinishReason reason);
  void RemoveFromQueue(std::vector<Sequence*>& queue, Sequence* seq);

  BatchLoopConfig config_;
  BlockManager blocks_;
  std::unordered_map<int64_t, std::unique_ptr<Sequence>> seqs_;
  std::vector<Sequence*> running_;  // sorted: priority desc, then arrival asc
  std::vector<Sequence*> waiting_;  // sorted the same way
  std::vector<Sequence*> scheduled_;  // this step's sequences, plan order
  std::vector<int32_t> scheduled_num_new_;
  bool queues_dirty_ = false;
  bool in_flight_ = false;
  double now_ = 0.0;
  int64_t next_seq_id_ = 0;
  uint64_t arrival_counter_ = 0;
  int32_t num_parked_ = 0;
  StepPlan plan_;
  StepEvents events_;
  int64_t num_commits_ = 0;
  LoopStats stats_;
};

}  // namespace paste

#endif  // PASTE_BATCH_LOOP_H_
