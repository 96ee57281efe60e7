// BatchLoop implementation; the scheduling algorithm is stated in batch_loop.h.
#include "paste/batch_loop.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "paste/errors.h"

namespace paste {

struct BatchLoop::Sequence {
  int64_t id = 0;
  SeqStatus status = SeqStatus::kWaiting;
  std::vector<int32_t> tokens;
  int32_t num_computed = 0;
  int32_t num_output = 0;  // sampled in the current turn
  SeqParams params;
  uint64_t arrival = 0;  // queue order among equal priorities
  bool has_blocks = false;
  // The sequence's block table inside the BlockManager (stable until freed): a decode step
  // that stays inside its last block needs no BlockManager lookup at all.
  const std::vector<int32_t>* table = nullptr;
};

namespace {
// Block arithmetic on the hot path: shifts and masks when block_size is a power of two (the
// usual case; an integer division costs tens of cycles per token), divisions otherwise.
struct BlockMath {
  int32_t size, shift, mask;
  explicit BlockMath(int32_t bs)
      : size(bs), shift((bs & (bs - 1)) == 0 ? __builtin_ctz(bs) : -1), mask(bs - 1) {}
  int32_t Block(int32_t pos) const { return shift >= 0 ? pos >> shift : pos / size; }
  int32_t Offset(int32_t pos) const { return shift >= 0 ? pos & mask : pos % size; }
  int32_t BlocksFor(int32_t n) const { return Block(n + size - 1); }
};

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
  PASTE_CHECK_ARG(blocks_.NumBlocksFor(config.max_model_len) <= config.num_blocks,
                  "max_model_len ", config.max_model_len, " needs ",
                  blocks_.NumBlocksFor(config.max_model_len), " blocks but the pool has only ",
                  config.num_blocks);
  // Reserve every per-step buffer for the largest step so that it never reallocates.
  const size_t seqs = static_cast<size_t>(config.max_num_seqs);
  const size_t tokens = static_cast<size_t>(config.max_num_batched_tokens);
  for (auto* v : {&plan_.query_start_loc, &plan_.kv_indptr}) v->reserve(seqs + 1);
  for (auto* v : {&plan_.num_computed_tokens, &plan_.seq_lens, &plan_.kv_last_page_len,
                  &plan_.logits_indices, &plan_.admitted_num_reused}) {
    v->reserve(seqs);
  }
  for (auto* v : {&plan_.seq_ids, &plan_.sample_seq_ids, &plan_.admitted_seq_ids,
                  &events_.seq_ids}) {
    v->reserve(seqs);
  }
  for (auto* v : {&plan_.input_ids, &plan_.positions, &plan_.slot_mapping}) v->reserve(tokens);
  plan_.kv_indices.reserve(seqs * static_cast<size_t>(blocks_.NumBlocksFor(config.max_model_len)));
  events_.tokens.reserve(seqs);
  events_.finish_reasons.reserve(seqs);
}

BatchLoop::~BatchLoop() = default;

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
}

static void CheckTokens(const int32_t* tokens, int32_t num_tokens) {
  PASTE_CHECK_ARG(num_tokens >= 0, "num_tokens must be non-negative, got ", num_tokens);
  PASTE_CHECK_ARG(num_tokens == 0 || tokens != nullptr, "tokens must not be null");
  for (int32_t i = 0; i < num_tokens; ++i) {
    PASTE_CHECK_ARG(tokens[i] >= 0, "negative token id ", tokens[i], " at index ", i);
  }
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

void BatchLoop::Free(int64_t seq_id) {
  CheckNotInFlight("free()");
  Sequence& seq = Get(seq_id);
  if (seq.status == SeqStatus::kParked) {
    --num_parked_;
  } else {
    RemoveFromQueue(seq.status == SeqStatus::kRunning ? running_ : waiting_, &seq);
  }
  if (seq.has_blocks) blocks_.Free(seq.id);
  seqs_.erase(seq_id);
}

void BatchLoop::SetPriority(int64_t seq_id, double priority) {
  Sequence& seq = Get(seq_id);
  if (seq.params.priority == priority) return;
  seq.params.priority = priority;
  queues_dirty_ = true;
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

void BatchLoop::MarkReclaimed(const std::vector<int64_t>& ids) {
  for (int64_t id : ids) {
    Sequence& seq = Get(id);
    seq.has_blocks = false;
    seq.table = nullptr;
    seq.num_computed = 0;
    plan_.reclaimed_seq_ids.push_back(id);
    ++stats_.num_reclaimed_pins;
  }
}

void BatchLoop::Preempt(Sequence* seq) {
  blocks_.Free(seq->id);
  seq->has_blocks = false;
  seq->table = nullptr;
  seq->num_computed = 0;
  seq->status = SeqStatus::kWaiting;
  InsertSorted(waiting_, seq);  // keeps its arrival: goes back ahead of later arrivals
  plan_.preempted_seq_ids.push_back(seq->id);
  ++stats_.num_preemptions;
}

// Makes room for a running sequence: pins first (expired, then unexpired), then preemption of
// the lowest-priority running sequence. Returns the grown block table, or nullptr if `seq`
// itself was preempted.
const std::vector<int32_t>* BatchLoop::EnsureBlocksForRunning(Sequence* seq, int32_t num_slots,
                                                             double now) {
  while (true) {
    if (const auto* table = blocks_.TryGrow(seq->id, num_slots)) return table;
    int32_t wanted = blocks_.NumNewBlocksNeeded(seq->id, num_slots);
    MarkReclaimed(blocks_.ReclaimPinned(wanted, now, /*include_unexpired=*/true));
    if (blocks_.CanGrow(seq->id, num_slots)) continue;
    Sequence* victim = running_.back();
    running_.pop_back();
    Preempt(victim);
    if (victim == seq) return nullptr;
  }
}

// Admits a waiting sequence if blocks allow (reclaiming expired pins only). No side effects
// when it returns false.
bool BatchLoop::TryAdmit(Sequence* seq, int32_t budget, double now) {
  const int32_t num_tokens = static_cast<int32_t>(seq->tokens.size());
  if (seq->has_blocks) {  // returning with retained KV
    int32_t num_new = std::min(num_tokens - seq->num_computed, budget);
    int32_t slots = seq->num_computed + num_new;
    if (!blocks_.CanGrow(seq->id, slots)) {
      MarkReclaimed(blocks_.ReclaimPinned(blocks_.NumNewBlocksNeeded(seq->id, slots), now,
                                          /*include_unexpired=*/false, /*exclude=*/seq->id));
      if (!blocks_.CanGrow(seq->id, slots)) return false;
    }
    blocks_.Grow(seq->id, slots);
    blocks_.Unpin(seq->id);
    stats_.num_admitted_tokens += num_tokens;
    stats_.num_reused_tokens += seq->num_computed;
    plan_.admitted_num_reused.push_back(seq->num_computed);
    return true;
  }
  // Cap the hit so that at least the last token is computed: its logits are needed.
  std::vector<int32_t> prefix = blocks_.MatchPrefix(seq->tokens.data(), num_tokens - 1);
  int32_t num_cached = static_cast<int32_t>(prefix.size()) * config_.block_size;
  int32_t num_new = std::min(num_tokens - num_cached, budget);
  int32_t slots = num_cached + num_new;
  if (!blocks_.CanAllocate(prefix, slots)) {
    int32_t wanted = blocks_.NumBlocksFor(slots) - static_cast<int32_t>(prefix.size());
    for (int32_t b : prefix) wanted += blocks_.RefCount(b) == 0 ? 1 : 0;
    MarkReclaimed(blocks_.ReclaimPinned(wanted, now, /*include_unexpired=*/false));
    // Reclaiming may have changed what is cached; match again.
    prefix = blocks_.MatchPrefix(seq->tokens.data(), num_tokens - 1);
    num_cached = static_cast<int32_t>(prefix.size()) * config_.block_size;
    slots = num_cached + std::min(num_tokens - num_cached, budget);
    if (!blocks_.CanAllocate(prefix, slots)) return false;
  }
  blocks_.Allocate(seq->id, prefix, slots);
  seq->has_blocks = true;
  seq->num_computed = num_cached;
  stats_.num_admitted_tokens += num_tokens;
  stats_.num_reused_tokens += num_cached;
  plan_.admitted_num_reused.push_back(num_cached);
  return true;
}

const StepPlan& BatchLoop::Schedule(double now) {
  CheckNotInFlight("schedule()");
  now_ = now;
  StepPlan& p = plan_;
  p.step = stats_.num_steps;
  for (auto* v : {&p.query_start_loc, &p.num_computed_tokens, &p.seq_lens, &p.input_ids,
                  &p.positions, &p.slot_mapping, &p.kv_indptr, &p.kv_indices,
                  &p.kv_last_page_len, &p.logits_indices, &p.admitted_num_reused}) {
    v->clear();
  }
  for (auto* v : {&p.seq_ids, &p.sample_seq_ids, &p.preempted_seq_ids, &p.reclaimed_seq_ids,
                  &p.admitted_seq_ids}) {
    v->clear();
  }
  p.query_start_loc.push_back(0);
  p.kv_indptr.push_back(0);
  scheduled_.clear();
  scheduled_num_new_.clear();
  if (queues_dirty_) SortQueues();

  int32_t budget = config_.max_num_batched_tokens;
  // 1. Running sequences, highest priority first.
  size_t i = 0;
  while (i < running_.size() && budget > 0) {
    Sequence* seq = running_[i];
    int32_t remaining = static_cast<int32_t>(seq->tokens.size()) - seq->num_computed;
    PASTE_CHECK(remaining > 0, "running sequence ", seq->id, " has nothing to compute");
    int32_t num_new = std::min(remaining, budget);
    const int32_t slots = seq->num_computed + num_new;
    if (seq->table == nullptr ||
        static_cast<int32_t>(seq->table->size()) * config_.block_size < slots) {
      const auto* table = EnsureBlocksForRunning(seq, slots, now);
      if (table == nullptr) continue;  // seq itself was preempted; running_ shrank
      seq->table = table;
    }
    AddToPlan(seq, num_new, *seq->table);
    budget -= num_new;
    ++i;
  }
  // 2. Waiting sequences, unless this step had to preempt.
  if (p.preempted_seq_ids.empty()) {
    size_t admitted = 0;
    while (admitted < waiting_.size() && budget > 0 &&
           static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
      Sequence* seq = waiting_[admitted];
      if (!TryAdmit(seq, budget, now)) break;  // strict priority order: no overtaking
      ++admitted;
      seq->status = SeqStatus::kRunning;
      InsertSorted(running_, seq);
      p.admitted_seq_ids.push_back(seq->id);
      int32_t num_new =
          std::min(static_cast<int32_t>(seq->tokens.size()) - seq->num_computed, budget);
      seq->table = &blocks_.BlockTable(seq->id);
      AddToPlan(seq, num_new, *seq->table);
      budget -= num_new;
    }
    waiting_.erase(waiting_.begin(), waiting_.begin() + admitted);
  }
  ++stats_.num_steps;
  in_flight_ = true;
  return p;
}

void BatchLoop::AddToPlan(Sequence* seq, int32_t num_new, const std::vector<int32_t>& table) {
  StepPlan& p = plan_;
  const int32_t bs = config_.block_size;
  const int32_t start = seq->num_computed;
  const int32_t end = start + num_new;
  const BlockMath bm(bs);
  for (int32_t pos = start; pos < end; ++pos) {
    p.input_ids.push_back(seq->tokens[pos]);
    p.positions.push_back(pos);
    p.slot_mapping.push_back(table[bm.Block(pos)] * bs + bm.Offset(pos));
  }
  p.seq_ids.push_back(seq->id);
  p.query_start_loc.push_back(static_cast<int32_t>(p.input_ids.size()));
  p.num_computed_tokens.push_back(start);
  p.seq_lens.push_back(end);
  const int32_t num_kv_blocks = bm.BlocksFor(end);
  p.kv_indices.insert(p.kv_indices.end(), table.begin(), table.begin() + num_kv_blocks);
  p.kv_indptr.push_back(static_cast<int32_t>(p.kv_indices.size()));
  p.kv_last_page_len.push_back(end - (num_kv_blocks - 1) * bs);
  if (end == static_cast<int32_t>(seq->tokens.size())) {
    p.logits_indices.push_back(static_cast<int32_t>(p.input_ids.size()) - 1);
    p.sample_seq_ids.push_back(seq->id);
  }
  scheduled_.push_back(seq);
  scheduled_num_new_.push_back(num_new);
}

const StepEvents& BatchLoop::Commit(const int32_t* sampled, int32_t num_sampled) {
  PASTE_CHECK_ARG(in_flight_, "commit() called without a scheduled step");
  PASTE_CHECK_ARG(num_sampled == static_cast<int32_t>(plan_.sample_seq_ids.size()),
                  "commit() got ", num_sampled, " sampled tokens, the plan expects ",
                  plan_.sample_seq_ids.size());
  CheckTokens(sampled, num_sampled);
  events_.seq_ids.clear();
  events_.tokens.clear();
  events_.finish_reasons.clear();
  int32_t k = 0;
  bool any_finished = false;
  const BlockMath bm(config_.block_size);
  for (size_t j = 0; j < scheduled_.size(); ++j) {
    Sequence* seq = scheduled_[j];
    const int32_t before = seq->num_computed;
    seq->num_computed += scheduled_num_new_[j];
    if (bm.Block(seq->num_computed) > bm.Block(before)) {  // a block filled up: register it
      blocks_.CommitComputed(seq->id, seq->tokens.data(), seq->num_computed);
    }
    if (seq->num_computed != static_cast<int32_t>(seq->tokens.size())) continue;
    const int32_t token = sampled[k++];
    seq->tokens.push_back(token);
    ++seq->num_output;
    FinishReason reason = FinishReason::kNone;
    const auto& stops = seq->params.stop_token_ids;
    if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
      reason = FinishReason::kStop;
    } else if (seq->num_output >= seq->params.max_tokens ||
               static_cast<int32_t>(seq->tokens.size()) >= config_.max_model_len) {
      reason = FinishReason::kLength;
    }
    events_.seq_ids.push_back(seq->id);
    events_.tokens.push_back(token);
    events_.finish_reasons.push_back(static_cast<int8_t>(reason));
    if (reason != FinishReason::kNone) {
      any_finished = true;
      FinishTurn(seq, reason);
    }
  }
  if (any_finished) {
    running_.erase(std::remove(running_.begin(), running_.end(), nullptr), running_.end());
  }
  in_flight_ = false;
  ++num_commits_;
  return events_;
}

void BatchLoop::AbandonStep() {
  PASTE_CHECK_ARG(in_flight_, "abandon_step() called without a scheduled step");
  scheduled_.clear();
  scheduled_num_new_.clear();
  in_flight_ = false;
}

// Called from Commit(): the sequence leaves running_ (slot nulled, compacted by the caller);
// a sequence that is not parked is destroyed here.
void BatchLoop::FinishTurn(Sequence* seq, FinishReason /*reason*/) {
  auto it = std::find(running_.begin(), running_.end(), seq);
  PASTE_CHECK(it != running_.end(), "finished sequence ", seq->id, " is not running");
  *it = nullptr;
  if (seq->params.park_on_finish) {
    seq->status = SeqStatus::kParked;
    ++num_parked_;
    blocks_.Pin(seq->id, now_ + seq->params.pin_ttl_s);
  } else {
    blocks_.Free(seq->id);
    seqs_.erase(seq->id);
  }
}

SeqInfo BatchLoop::GetSeqInfo(int64_t seq_id) const {
  const Sequence& seq = Get(seq_id);
  return SeqInfo{seq.status, static_cast<int32_t>(seq.tokens.size()), seq.num_computed,
                 seq.num_output, seq.params.priority, seq.has_blocks};
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
