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
// them, and no admission happens in a step that preempted. With max_loras, a waiting sequence
// whose LoRA adapter would be one too many among the running ones is passed over (later ones
// may go first) and, until it is admitted, holds back every later sequence of an adapter not
// running (base-model ones still pass), so the running adapters drain and no adapter starves. A new sequence first takes its
// longest cached prefix, capped so that at least its last token is computed (its logits are
// needed). Commit() receives one sampled token per sequence that reached its last token this
// step, appends it and reports each as an event with its finish reason (stop token, length).
// A finished sequence is freed, or parked with its KV pinned (park_on_finish) so that the next
// turn of an agent session only prefills the new tokens.
//
// Draft tokens (speculative decoding). Once every running sequence has its real tokens and
// blocks, each decoding sequence (remaining == 1), in the same order, may get d draft tokens
// appended to its query: the explicit ones given by SetDrafts() for this step, else an n-gram
// proposal from its own tokens (ProposeNgramDraft, num_draft_tokens > 0). d is capped by the
// budget left, by the turn's max_tokens and by max_model_len (accepting every draft and the
// sampled token never overruns either), and drafts only take free blocks (TryGrow), else the
// room left in the sequence's last block: they never reclaim a pin or preempt, and never
// displace a real token of another running sequence. With draft_step_costs, the n-gram
// proposals of all decoding sequences are cut together to the lengths of highest expected
// tokens per step cost (draft_policy.h), from each sequence's acceptance so far: hits and
// trials decayed by kDraftMemory per update. A verified draft updates them with what was
// accepted; a proposal cut to nothing is still scored, for free, by the token the step
// commits (its first token matched or not: a one-draft trial), so a sequence that stopped
// drafting starts again when its text turns to copying, and one that never drafted learns.
//
//   tokens  ... t5 t6 | d1 d2 d3      query: [t6 d1 d2 d3], positions 6..9, seq_len 10
//   logits rows       | t6 d1 d2 d3   4 rows; row r verifies d_{r+1}, the last row is bonus
//
// Commit() takes, per sampler, how many leading drafts the engine accepted (a) and the token
// it sampled after them; it appends d1..da then the sampled token, one event each, stopping at
// the first token that finishes the turn. The accepted drafts' KV is valid (num_computed
// becomes num_tokens - 1); a rejected draft's slot is simply overwritten by a later step and,
// as only computed tokens are registered, never enters the prefix cache.
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
  // n-gram drafting (ProposeNgramDraft): suffix lengths tried, longest first.
  int32_t draft_ngram_min = 2;
  int32_t draft_ngram_max = 4;
  // Cost of a step computing r query rows, r = 1..size (any unit; draft_policy.h). Empty:
  // every proposed n-gram draft is verified. Otherwise each step keeps the draft lengths of
  // highest goodput for the sequences' measured acceptance (ChooseDraftLengths).
  std::vector<double> draft_step_costs;
  // At most this many distinct LoRA adapters (SeqParams.lora_id != 0) among the running
  // sequences, hence in any one step; 0 = no bound (AdmitWaiting).
  int32_t max_loras = 0;
};

struct SeqParams {
  int32_t max_tokens = 256;              // sampled tokens allowed in the current turn
  std::vector<int32_t> stop_token_ids;   // a sampled token in this list finishes the turn
  double priority = 0.0;                 // higher runs first and is preempted last
  bool park_on_finish = false;           // keep KV pinned after the turn instead of freeing
  double pin_ttl_s = 30.0;               // pin expiry = finish time + pin_ttl_s
  int32_t num_draft_tokens = 0;          // n-gram drafts per decoding step, at most; 0 = none
  // Prompt logits (a scoring request): every prompt row but the last (whose logits sample the
  // first token) is listed in plan.prompt_logits_indices when computed. Until all of them
  // were committed the sequence reuses no cached prefix at admission (those rows would not be
  // computed); its own computed blocks still enter the prefix cache. Resume() turns it off.
  bool prompt_logits = false;
  // Prefix-cache namespace (BlockManager's cache salts): the sequence shares cached KV blocks
  // only with sequences of the same salt; 0 = the common namespace.
  uint64_t cache_salt = 0;
  // The LoRA adapter the sequence runs with (any id the caller chose); 0 = the base model.
  // Only counted against BatchLoopConfig::max_loras.
  int32_t lora_id = 0;
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
  // [sample_indptr[m]] rows to compute logits for: sampler i owns rows
  // [sample_indptr[i], sample_indptr[i+1]): its last real token, then each of its draft tokens.
  std::vector<int32_t> logits_indices;
  std::vector<int32_t> sample_indptr;        // [m+1]; 0, 1, ..., m when there are no drafts
  std::vector<int64_t> sample_seq_ids;       // [m]
  // Drafts in sampler order: sampler i's are draft_tokens[sample_indptr[i] - i,
  // sample_indptr[i+1] - (i+1)), one per logits row after its first.
  std::vector<int32_t> draft_tokens;
  // Prompt rows of sequences with SeqParams.prompt_logits: sequence prompt_logits_seq_ids[i]
  // owns rows prompt_logits_indices[prompt_logits_indptr[i], prompt_logits_indptr[i+1]); the
  // row of position p predicts prompt token p + 1. A recomputed prompt (after preemption)
  // lists its rows again.
  std::vector<int32_t> prompt_logits_indices;
  std::vector<int32_t> prompt_logits_indptr;   // [k+1]
  std::vector<int64_t> prompt_logits_seq_ids;  // [k]
  std::vector<int64_t> preempted_seq_ids;    // running sequences sent back to waiting
  std::vector<int64_t> reclaimed_seq_ids;    // parked/returning sequences whose pinned KV was freed
  std::vector<int64_t> admitted_seq_ids;     // waiting sequences admitted this step
  std::vector<int32_t> admitted_num_reused;  // [a] tokens whose KV was reused at admission
  int32_t num_tokens() const { return static_cast<int32_t>(input_ids.size()); }
};

// What Commit() did, one entry per appended token (accepted drafts, then the sampled token),
// in plan order.
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
  int64_t num_draft_tokens = 0;     // draft tokens scheduled (again if a step is abandoned)
  int64_t num_accepted_draft_tokens = 0;  // drafts committed (appended) as accepted
};

struct SeqInfo {
  SeqStatus status;
  int32_t num_tokens;
  int32_t num_computed_tokens;
  int32_t num_output_tokens;  // sampled in the current turn
  double priority;
  bool has_blocks;
  double draft_acceptance;  // estimated acceptance of its n-gram drafts (draft_policy.h)
  uint64_t cache_salt;      // SeqParams.cache_salt
  int32_t lora_id;          // SeqParams.lora_id
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
  // From the next Schedule() on, n-gram drafts of up to k tokens per decoding step (0 = none).
  void SetNumDraftTokens(int64_t seq_id, int32_t k);
  // Replaces config().draft_step_costs from the next Schedule() on (empty: every proposed
  // n-gram draft is verified); checked like the config's. Refused between Schedule() and
  // Commit().
  void SetDraftStepCosts(const std::vector<double>& costs);
  // Explicit drafts for the NEXT Schedule() only (it clears them, used or not): sequence
  // seq_ids[i] gets tokens[indptr[i], indptr[i+1]) instead of that step's n-gram proposal (an
  // empty range means no draft). Capped by room (budget, max_tokens, max_model_len, free
  // blocks) but not by num_draft_tokens; ignored unless the sequence decodes in that step. A
  // later call before the schedule replaces a sequence's draft. Refused between Schedule() and
  // Commit(); every input is checked before anything is stored.
  void SetDrafts(const int64_t* seq_ids, int32_t n, const int32_t* indptr, const int32_t* tokens);

  // The returned plan (and the events of Commit) live in buffers owned by the loop and
  // overwritten by the next call. Their capacity is reserved at construction for the largest
  // possible step, so pointers into them stay valid for the loop's lifetime (zero-copy views).
  const StepPlan& Schedule(double now);
  // sampled[i] is the token for plan.sample_seq_ids[i], sampled after its num_accepted[i]
  // (0 <= a <= its number of drafts) accepted leading drafts; num_accepted == nullptr means
  // none accepted. Appends the accepted drafts, then the sampled token, stopping at the first
  // that finishes the turn. A bad call throws InvalidArgument and leaves the step in flight.
  const StepEvents& Commit(const int32_t* sampled, int32_t num_sampled,
                           const int32_t* num_accepted = nullptr, int32_t num_accepted_len = 0);
  // Drops the scheduled step without committing it (the model step failed): no sequence
  // advances, so the next Schedule() plans the same tokens again (with the same n-gram drafts;
  // the step's explicit drafts are gone). Admissions, preemptions and the blocks allocated for
  // the step stand (the tokens' KV is simply written again).
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
  // Resets the prefix cache (BlockManager::EvictCachedFree): the number of blocks evicted.
  // Not while a step is in flight (InvalidArgument).
  int32_t ResetPrefixCache();
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
  void ResetPlan();
  int32_t ScheduleRunning(int32_t budget, double now);
  int32_t PlanRunning(int32_t budget);
  int32_t AdmitWaiting(int32_t budget, double now);
  void ProposeDrafts(int32_t budget);
  void LimitDrafts();
  int32_t PlaceDraft(Sequence* seq, size_t j, int32_t budget);
  void AddToPlan(Sequence* seq, int32_t num_new, int32_t num_draft);
  void CheckCommit(const int32_t* sampled, int32_t num_sampled, const int32_t* num_accepted,
                   int32_t num_accepted_len) const;
  FinishReason AppendSampled(Sequence* seq, int32_t sampler, int32_t num_accepted,
                             int32_t sampled);
  FinishReason AppendToken(Sequence* seq, int32_t token);
  void FinishTurn(Sequence* seq, FinishReason reason);
  void RemoveFromQueue(std::vector<Sequence*>& queue, Sequence* seq);

  BatchLoopConfig config_;
  BlockManager blocks_;
  std::unordered_map<int64_t, std::unique_ptr<Sequence>> seqs_;
  std::vector<Sequence*> running_;  // sorted: priority desc, then arrival asc
  std::vector<Sequence*> waiting_;  // sorted the same way
  std::vector<Sequence*> scheduled_;  // this step's sequences, plan order
  std::vector<int32_t> scheduled_num_new_;
  // SetDrafts() for the next Schedule(); small (one entry per drafted sequence).
  std::unordered_map<int64_t, std::vector<int32_t>> explicit_drafts_;
  // This step's draft proposals, per scheduled sequence j: proposal_tokens_[proposal_indptr_[j],
  // + proposal_len_[j]) (the length after LimitDrafts), n-gram (1) or explicit (0).
  std::vector<int32_t> proposal_tokens_;
  std::vector<int32_t> proposal_indptr_;
  std::vector<int32_t> proposal_len_;
  std::vector<uint8_t> proposal_ngram_;
  // LimitDrafts' inputs and output per scheduled sequence (kept across steps: no allocation).
  std::vector<double> proposal_acceptance_;
  std::vector<int32_t> proposal_max_;
  std::vector<int32_t> proposal_kept_;
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
