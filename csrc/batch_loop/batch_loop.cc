// BatchLoop implementation: construction, the sequence lifecycle (add, resume, park, free, per-
// sequence settings) and the queues. The step (Schedule, Commit) is in batch_loop_step.cc; the
// scheduling algorithm is stated in batch_loop.h.
#include "paste/batch_loop.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "paste/draft_policy.h"
#include "paste/errors.h"
#include "sequence.h"

namespace paste {

namespace {

void CheckStepCosts(const std::vector<double>& costs) {
  for (size_t r = 0; r < costs.size(); ++r) {
    PASTE_CHECK_ARG(std::isfinite(costs[r]) && costs[r] > 0.0, "draft_step_costs[", r,
                    "] must be a positive finite cost, got ", costs[r]);
  }
}

}  // namespace

namespace {
// Queue order: higher priority first, then earlier arrival.
inline bool Before(double pa, uint64_t aa, double pb, uint64_t ab) {
  return pa != pb ? pa > pb : aa < ab;
}
}  // namespace

BatchLoop::BatchLoop(const BatchLoopConfig& config)
    : config_(config),
      blocks_(config.num_blocks, config.block_size, config.enable_prefix_caching,
              config.hash_bits) {
  PASTE_CHECK_ARG(config.max_num_seqs > 0, "max_num_seqs must be positive");
  PASTE_CHECK_ARG(config.max_num_batched_tokens > 0, "max_num_batched_tokens must be positive");
  PASTE_CHECK_ARG(config.max_model_len > 0, "max_model_len must be positive");
  PASTE_CHECK_ARG(config.max_loras >= 0, "max_loras must be non-negative (0 = no bound), got ",
                  config.max_loras);
  PASTE_CHECK_ARG(blocks_.NumBlocksFor(config.max_model_len) <= config.num_blocks,
                  "max_model_len ", config.max_model_len, " needs ",
                  blocks_.NumBlocksFor(config.max_model_len), " blocks but the pool has only ",
                  config.num_blocks);
  PASTE_CHECK_ARG(1 <= config.draft_ngram_min && config.draft_ngram_min <= config.draft_ngram_max,
                  "draft n-gram lengths need 1 <= draft_ngram_min <= draft_ngram_max, got ",
                  config.draft_ngram_min, " and ", config.draft_ngram_max);
  CheckStepCosts(config.draft_step_costs);
  // Reserve every per-step buffer for the largest step so that it never reallocates. Logits
  // rows, drafts and events (one per appended token, at most one per row) are bounded by the
  // step's tokens: every row is a distinct planned token.
  const size_t seqs = static_cast<size_t>(config.max_num_seqs);
  const size_t tokens = static_cast<size_t>(config.max_num_batched_tokens);
  for (auto* v : {&plan_.query_start_loc, &plan_.kv_indptr, &plan_.sample_indptr,
                  &plan_.prompt_logits_indptr}) {
    v->reserve(seqs + 1);
  }
  for (auto* v : {&plan_.num_computed_tokens, &plan_.seq_lens, &plan_.kv_last_page_len,
                  &plan_.admitted_num_reused}) {
    v->reserve(seqs);
  }
  for (auto* v : {&plan_.seq_ids, &plan_.sample_seq_ids, &plan_.admitted_seq_ids,
                  &plan_.prompt_logits_seq_ids}) {
    v->reserve(seqs);
  }
  for (auto* v : {&plan_.input_ids, &plan_.positions, &plan_.slot_mapping, &plan_.logits_indices,
                  &plan_.draft_tokens, &plan_.prompt_logits_indices, &events_.tokens}) {
    v->reserve(tokens);
  }
  plan_.kv_indices.reserve(seqs * static_cast<size_t>(blocks_.NumBlocksFor(config.max_model_len)));
  events_.seq_ids.reserve(tokens);
  events_.finish_reasons.reserve(tokens);
}

BatchLoop::~BatchLoop() = default;

void BatchLoop::SetDraftStepCosts(const std::vector<double>& costs) {
  CheckNotInFlight("set_draft_step_costs()");
  CheckStepCosts(costs);
  config_.draft_step_costs = costs;
}

BatchLoop::Sequence& BatchLoop::Get(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) throw UnknownSequence(detail::Concat("unknown sequence id ", seq_id));
  return *it->second;
}

void BatchLoop::CheckNotInFlight(const char* what) const {
  PASTE_CHECK_ARG(!in_flight_, what, " is not allowed between schedule() and commit()");
}

static void CheckParams(const SeqParams& params) {
  PASTE_CHECK_ARG(params.max_tokens > 0, "max_tokens must be positive, got ", params.max_tokens);
  PASTE_CHECK_ARG(params.pin_ttl_s >= 0, "pin_ttl_s must be non-negative");
  for (int32_t t : params.stop_token_ids) PASTE_CHECK_ARG(t >= 0, "negative stop token id ", t);
  PASTE_CHECK_ARG(params.num_draft_tokens >= 0, "num_draft_tokens must be non-negative, got ",
                  params.num_draft_tokens);
}

int64_t BatchLoop::AddSequence(const int32_t* tokens, int32_t num_tokens,
                               const SeqParams& params) {
  CheckNotInFlight("add_sequence()");
  CheckTokens(tokens, num_tokens);
  CheckParams(params);
  PASTE_CHECK_ARG(num_tokens > 0, "a sequence needs at least one token");
  PASTE_CHECK_ARG(num_tokens < config_.max_model_len, "prompt of ", num_tokens,
                  " tokens leaves no room below max_model_len ", config_.max_model_len);
  auto seq = std::make_unique<Sequence>();
  seq->id = next_seq_id_++;
  seq->tokens.assign(tokens, tokens + num_tokens);
  seq->params = params;
  seq->prompt_logits_end = params.prompt_logits ? num_tokens - 1 : 0;
  seq->arrival = arrival_counter_++;
  Sequence* raw = seq.get();
  seqs_.emplace(raw->id, std::move(seq));
  InsertSorted(waiting_, raw);
  return raw->id;
}

void BatchLoop::Resume(int64_t seq_id, const int32_t* tokens, int32_t num_tokens,
                       int32_t max_tokens, double priority,
                       const std::optional<std::vector<int32_t>>& stop_token_ids,
                       std::optional<double> pin_ttl_s) {
  CheckNotInFlight("resume()");
  Sequence& seq = Get(seq_id);
  PASTE_CHECK_ARG(seq.status == SeqStatus::kParked, "sequence ", seq_id,
                  " is not parked; only a parked sequence can resume");
  CheckTokens(tokens, num_tokens);
  SeqParams turn = seq.params;  // the new turn's parameters, checked as AddSequence's are
  turn.max_tokens = max_tokens;
  turn.prompt_logits = false;  // a first turn's request only
  turn.priority = priority;
  if (stop_token_ids) turn.stop_token_ids = *stop_token_ids;
  if (pin_ttl_s) turn.pin_ttl_s = *pin_ttl_s;
  CheckParams(turn);
  int64_t total = static_cast<int64_t>(seq.tokens.size()) + num_tokens;
  PASTE_CHECK_ARG(total < config_.max_model_len, "sequence ", seq_id, " would reach ", total,
                  " tokens, max_model_len is ", config_.max_model_len);
  seq.tokens.insert(seq.tokens.end(), tokens, tokens + num_tokens);
  seq.params = std::move(turn);
  seq.num_output = 0;
  seq.prompt_logits_end = 0;
  seq.status = SeqStatus::kWaiting;
  seq.arrival = arrival_counter_++;
  --num_parked_;
  InsertSorted(waiting_, &seq);  // keeps its pin (if any) until admitted
}

void BatchLoop::Park(int64_t seq_id, double expiry) {
  CheckNotInFlight("park()");
  Sequence& seq = Get(seq_id);
  PASTE_CHECK_ARG(seq.status != SeqStatus::kParked, "sequence ", seq_id, " is already parked");
  RemoveFromQueue(seq.status == SeqStatus::kRunning ? running_ : waiting_, &seq);
  seq.status = SeqStatus::kParked;
  ++num_parked_;
  if (seq.has_blocks) blocks_.Pin(seq.id, expiry);
}

int32_t BatchLoop::ResetPrefixCache() {
  CheckNotInFlight("reset_prefix_cache()");
  return blocks_.EvictCachedFree();
}

void BatchLoop::Free(int64_t seq_id) {
  CheckNotInFlight("free()");
  Sequence& seq = Get(seq_id);
  if (seq.status == SeqStatus::kParked) {
    --num_parked_;
  } else {
    RemoveFromQueue(seq.status == SeqStatus::kRunning ? running_ : waiting_, &seq);
  }
  if (seq.has_blocks) blocks_.Free(seq.id);
  explicit_drafts_.erase(seq_id);
  seqs_.erase(seq_id);
}

void BatchLoop::SetPriority(int64_t seq_id, double priority) {
  Sequence& seq = Get(seq_id);
  if (seq.params.priority == priority) return;
  seq.params.priority = priority;
  queues_dirty_ = true;
}

void BatchLoop::SetNumDraftTokens(int64_t seq_id, int32_t k) {
  Sequence& seq = Get(seq_id);
  PASTE_CHECK_ARG(k >= 0, "num_draft_tokens must be non-negative, got ", k);
  seq.params.num_draft_tokens = k;
}

void BatchLoop::SetDrafts(const int64_t* seq_ids, int32_t n, const int32_t* indptr,
                          const int32_t* tokens) {
  CheckNotInFlight("set_drafts()");
  PASTE_CHECK_ARG(n >= 0, "set_drafts() got a negative count ", n);
  PASTE_CHECK_ARG(indptr != nullptr && (n == 0 || seq_ids != nullptr),
                  "seq_ids and indptr must not be null");
  PASTE_CHECK_ARG(indptr[0] == 0, "indptr[0] must be 0, got ", indptr[0]);
  for (int32_t i = 0; i < n; ++i) {
    PASTE_CHECK_ARG(indptr[i + 1] >= indptr[i], "indptr must be non-decreasing, got indptr[", i,
                    "] = ", indptr[i], " > indptr[", i + 1, "] = ", indptr[i + 1]);
  }
  CheckTokens(tokens, indptr[n]);
  std::vector<int64_t> ids(seq_ids, seq_ids + n);
  for (int64_t id : ids) Get(id);  // UnknownSequence
  std::sort(ids.begin(), ids.end());
  auto dup = std::adjacent_find(ids.begin(), ids.end());
  PASTE_CHECK_ARG(dup == ids.end(), "set_drafts() got sequence ", *dup, " twice");
  for (int32_t i = 0; i < n; ++i) {
    explicit_drafts_[seq_ids[i]].assign(tokens + indptr[i], tokens + indptr[i + 1]);
  }
}

void BatchLoop::RemoveFromQueue(std::vector<Sequence*>& queue, Sequence* seq) {
  auto it = std::find(queue.begin(), queue.end(), seq);
  PASTE_CHECK(it != queue.end(), "sequence ", seq->id, " missing from its queue");
  queue.erase(it);
}

void BatchLoop::InsertSorted(std::vector<Sequence*>& queue, Sequence* seq) {
  auto it = std::upper_bound(queue.begin(), queue.end(), seq, [](Sequence* a, Sequence* b) {
    return Before(a->params.priority, a->arrival, b->params.priority, b->arrival);
  });
  queue.insert(it, seq);
}

void BatchLoop::SortQueues() {
  auto cmp = [](Sequence* a, Sequence* b) {
    return Before(a->params.priority, a->arrival, b->params.priority, b->arrival);
  };
  std::sort(running_.begin(), running_.end(), cmp);
  std::sort(waiting_.begin(), waiting_.end(), cmp);
  queues_dirty_ = false;
}

SeqInfo BatchLoop::GetSeqInfo(int64_t seq_id) const {
  const Sequence& seq = Get(seq_id);
  return SeqInfo{seq.status, static_cast<int32_t>(seq.tokens.size()), seq.num_computed,
                 seq.num_output, seq.params.priority, seq.has_blocks,
                 DraftAcceptance(seq.draft_hits, seq.draft_trials), seq.params.cache_salt,
                 seq.params.lora_id};
}

std::vector<int32_t> BatchLoop::Tokens(int64_t seq_id) const { return Get(seq_id).tokens; }

std::vector<int64_t> BatchLoop::RunningOrder() const {
  std::vector<int64_t> ids;
  for (const Sequence* s : running_) ids.push_back(s->id);
  return ids;
}

std::vector<int64_t> BatchLoop::WaitingOrder() const {
  std::vector<int64_t> ids;
  for (const Sequence* s : waiting_) ids.push_back(s->id);
  return ids;
}

}  // namespace paste
