// BatchLoop's step: Schedule() (blocks, admission, drafts, the plan's flat arrays) and Commit()
// (appending accepted drafts and sampled tokens, finishing turns). The algorithm is stated in
// batch_loop.h; the sequence lifecycle and the queues are in batch_loop.cc.
#include <algorithm>
#include <vector>

#include "paste/batch_loop.h"
#include "paste/draft_policy.h"
#include "paste/errors.h"
#include "paste/ngram_proposer.h"
#include "sequence.h"

namespace paste {

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
  // Cap the hit so that at least the last token is computed: its logits are needed. A
  // sequence that still owes prompt logits reuses nothing: every prompt row is computed.
  const int32_t match_len = seq->prompt_logits_end > 0 ? 0 : num_tokens - 1;
  const uint64_t salt = seq->params.cache_salt;
  std::vector<int32_t> prefix = blocks_.MatchPrefix(seq->tokens.data(), match_len, salt);
  int32_t num_cached = static_cast<int32_t>(prefix.size()) * config_.block_size;
  int32_t num_new = std::min(num_tokens - num_cached, budget);
  int32_t slots = num_cached + num_new;
  if (!blocks_.CanAllocate(prefix, slots)) {
    int32_t wanted = blocks_.NumBlocksFor(slots) - static_cast<int32_t>(prefix.size());
    for (int32_t b : prefix) wanted += blocks_.RefCount(b) == 0 ? 1 : 0;
    MarkReclaimed(blocks_.ReclaimPinned(wanted, now, /*include_unexpired=*/false));
    // Reclaiming may have changed what is cached; match again.
    prefix = blocks_.MatchPrefix(seq->tokens.data(), match_len, salt);
    num_cached = static_cast<int32_t>(prefix.size()) * config_.block_size;
    slots = num_cached + std::min(num_tokens - num_cached, budget);
    if (!blocks_.CanAllocate(prefix, slots)) return false;
  }
  blocks_.Allocate(seq->id, prefix, slots, salt);
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
  ResetPlan();
  if (queues_dirty_) SortQueues();
  int32_t budget = ScheduleRunning(config_.max_num_batched_tokens, now);
  budget = PlanRunning(budget);
  if (plan_.preempted_seq_ids.empty()) AdmitWaiting(budget, now);
  explicit_drafts_.clear();  // they were for this step only
  ++stats_.num_steps;
  in_flight_ = true;
  return plan_;
}

void BatchLoop::ResetPlan() {
  StepPlan& p = plan_;
  p.step = stats_.num_steps;
  for (auto* v : {&p.query_start_loc, &p.num_computed_tokens, &p.seq_lens, &p.input_ids,
                  &p.positions, &p.slot_mapping, &p.kv_indptr, &p.kv_indices,
                  &p.kv_last_page_len, &p.logits_indices, &p.sample_indptr, &p.draft_tokens,
                  &p.admitted_num_reused, &p.prompt_logits_indices, &p.prompt_logits_indptr}) {
    v->clear();
  }
  for (auto* v : {&p.seq_ids, &p.sample_seq_ids, &p.preempted_seq_ids, &p.reclaimed_seq_ids,
                  &p.admitted_seq_ids, &p.prompt_logits_seq_ids}) {
    v->clear();
  }
  p.query_start_loc.push_back(0);
  p.kv_indptr.push_back(0);
  p.sample_indptr.push_back(0);
  p.prompt_logits_indptr.push_back(0);
  scheduled_.clear();
  scheduled_num_new_.clear();
}

// 1. Running sequences, highest priority first: their real tokens and the blocks for them
// (reclaiming pins, then preempting from the back). Returns the budget left.
int32_t BatchLoop::ScheduleRunning(int32_t budget, double now) {
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
    scheduled_.push_back(seq);  // victims come from the back: never an earlier scheduled one
    scheduled_num_new_.push_back(num_new);
    budget -= num_new;
    ++i;
  }
  return budget;
}

// 1b. The running sequences' plan rows, in the same order, each decoding one with its drafts
// from what the real tokens left over: a draft never displaces a real token of a
// lower-priority sequence, nor takes the block its next token needs.
int32_t BatchLoop::PlanRunning(int32_t budget) {
  ProposeDrafts(budget);
  for (size_t j = 0; j < scheduled_.size(); ++j) {
    Sequence* seq = scheduled_[j];
    const int32_t num_draft = budget > 0 ? PlaceDraft(seq, j, budget) : 0;
    AddToPlan(seq, scheduled_num_new_[j], num_draft);
    budget -= num_draft;
  }
  return budget;
}

// 2. Waiting sequences in priority order while seats, budget and blocks last (the caller skips
// this in a step that preempted). Admitted sequences get no drafts. With max_loras, a sequence
// whose adapter would be one too many is passed over, and from then on this step only
// base-model sequences pass it: no later adapter sequence is admitted ahead of it, so the
// running adapters drain (each step re-counts them) and it gets its turn.
int32_t BatchLoop::AdmitWaiting(int32_t budget, double now) {
  const size_t max_loras = static_cast<size_t>(config_.max_loras);
  std::vector<int32_t> loras;  // distinct adapters running (with the bound only)
  if (max_loras > 0) {
    for (const Sequence* seq : running_) {
      const int32_t id = seq->params.lora_id;
      if (id != 0 && std::find(loras.begin(), loras.end(), id) == loras.end()) loras.push_back(id);
    }
  }
  bool held = false;  // a sequence was passed over for the bound
  size_t next = 0;    // waiting_[next] is the next candidate
  size_t kept = 0;    // waiting_[0, kept) were passed over and stay, in order
  while (next < waiting_.size() && budget > 0 &&
         static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
    Sequence* seq = waiting_[next];
    const int32_t lora = seq->params.lora_id;
    const bool new_lora =
        max_loras > 0 && lora != 0 && std::find(loras.begin(), loras.end(), lora) == loras.end();
    if (max_loras > 0 && lora != 0 && (held || (new_lora && loras.size() >= max_loras))) {
      held = true;
      waiting_[kept++] = seq;
      ++next;
      continue;
    }
    if (!TryAdmit(seq, budget, now)) break;  // strict priority order: no overtaking for blocks
    ++next;
    if (new_lora) loras.push_back(lora);
    seq->status = SeqStatus::kRunning;
    InsertSorted(running_, seq);
    plan_.admitted_seq_ids.push_back(seq->id);
    int32_t num_new =
        std::min(static_cast<int32_t>(seq->tokens.size()) - seq->num_computed, budget);
    seq->table = &blocks_.BlockTable(seq->id);
    scheduled_.push_back(seq);
    scheduled_num_new_.push_back(num_new);
    AddToPlan(seq, num_new, 0);
    budget -= num_new;
  }
  waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(kept),
                 waiting_.begin() + static_cast<std::ptrdiff_t>(next));
  return budget;
}

// Each scheduled sequence's draft proposal, before any is placed: the explicit one given by
// SetDrafts(), else an n-gram proposal of up to num_draft_tokens, for a decoding sequence (its
// last token is its only real token this step), within the budget left and the room its turn
// and the model have (accepting every draft plus the sampled token must stay within both).
void BatchLoop::ProposeDrafts(int32_t budget) {
  proposal_tokens_.clear();
  proposal_indptr_.assign(1, 0);
  proposal_len_.clear();
  proposal_ngram_.clear();
  for (Sequence* seq : scheduled_) {
    seq->ngram_draft = 0;
    seq->shadow_draft = -1;
    const int32_t num_tokens = static_cast<int32_t>(seq->tokens.size());
    const bool decoding = num_tokens - seq->num_computed == 1;
    const int32_t room =
        decoding ? std::min({budget, seq->params.max_tokens - seq->num_output - 1,
                             config_.max_model_len - num_tokens - 1})
                 : 0;
    const size_t start = proposal_tokens_.size();
    int32_t d = 0;
    bool ngram = false;
    auto it = room <= 0 || explicit_drafts_.empty() ? explicit_drafts_.end()
                                                    : explicit_drafts_.find(seq->id);
    if (it != explicit_drafts_.end()) {
      d = std::min(room, static_cast<int32_t>(it->second.size()));
      proposal_tokens_.insert(proposal_tokens_.end(), it->second.begin(),
                              it->second.begin() + d);
    } else if (room > 0 && seq->params.num_draft_tokens > 0) {
      const int32_t k = std::min(room, seq->params.num_draft_tokens);
      proposal_tokens_.resize(start + k);
      d = ProposeNgramDraft(seq->tokens.data(), num_tokens, config_.draft_ngram_min,
                            config_.draft_ngram_max, k, proposal_tokens_.data() + start);
      proposal_tokens_.resize(start + d);
      ngram = d > 0;
    }
    proposal_indptr_.push_back(static_cast<int32_t>(proposal_tokens_.size()));
    proposal_len_.push_back(d);
    proposal_ngram_.push_back(ngram ? 1 : 0);
  }
  if (!config_.draft_step_costs.empty()) LimitDrafts();
}

// Cuts the n-gram proposals to the lengths of highest goodput (draft_policy.h). Explicit
// drafts stay whole and count as rows the step computes anyway.
void BatchLoop::LimitDrafts() {
  const size_t n = scheduled_.size();
  int32_t base_rows = 0;
  int32_t samplers = 0;
  proposal_acceptance_.assign(n, 0.0);
  proposal_max_.assign(n, 0);
  proposal_kept_.assign(n, 0);
  for (size_t j = 0; j < n; ++j) {
    const Sequence* seq = scheduled_[j];
    base_rows += scheduled_num_new_[j];
    if (seq->num_computed + scheduled_num_new_[j] == static_cast<int32_t>(seq->tokens.size())) {
      ++samplers;
    }
    if (proposal_ngram_[j]) {
      proposal_max_[j] = proposal_len_[j];
      proposal_acceptance_[j] = DraftAcceptance(seq->draft_hits, seq->draft_trials);
    } else {
      base_rows += proposal_len_[j];
    }
  }
  ChooseDraftLengths(config_.draft_step_costs, base_rows, samplers, proposal_acceptance_.data(),
                     proposal_max_.data(), static_cast<int32_t>(n), proposal_kept_.data());
  for (size_t j = 0; j < n; ++j) {
    if (!proposal_ngram_[j]) continue;
    proposal_len_[j] = proposal_kept_[j];
    if (proposal_kept_[j] == 0) {  // not verified: the committed token still scores its first token
      scheduled_[j]->shadow_draft = proposal_tokens_[proposal_indptr_[j]];
    }
  }
}

// Appends sequence j's proposal (cut to the budget) to plan_.draft_tokens and returns its
// length. Draft slots take free blocks only: a guess is not worth a pin or another sequence's
// KV; without one, the draft is cut to the room left in the blocks the sequence has.
int32_t BatchLoop::PlaceDraft(Sequence* seq, size_t j, int32_t budget) {
  int32_t d = std::min(budget, proposal_len_[j]);
  if (d == 0) return 0;
  const int32_t num_tokens = static_cast<int32_t>(seq->tokens.size());
  const int32_t have = static_cast<int32_t>(seq->table->size()) * config_.block_size;
  if (have < num_tokens + d && blocks_.TryGrow(seq->id, num_tokens + d) == nullptr) {
    d = std::max(0, have - num_tokens);
    if (d == 0) return 0;
  }
  const auto first = proposal_tokens_.begin() + proposal_indptr_[j];
  plan_.draft_tokens.insert(plan_.draft_tokens.end(), first, first + d);
  seq->ngram_draft = proposal_ngram_[j] ? d : 0;
  stats_.num_draft_tokens += d;
  return d;
}

// Plan rows of one sequence: num_new real tokens from num_computed on, then its num_draft
// drafts (the last num_draft entries of plan_.draft_tokens) at the following positions.
void BatchLoop::AddToPlan(Sequence* seq, int32_t num_new, int32_t num_draft) {
  StepPlan& p = plan_;
  const std::vector<int32_t>& table = *seq->table;
  const int32_t bs = config_.block_size;
  const int32_t start = seq->num_computed;
  const int32_t end = start + num_new;
  const int32_t kv_end = end + num_draft;
  const int32_t* draft = p.draft_tokens.data() + p.draft_tokens.size() - num_draft;
  const BlockMath bm(bs);
  const int32_t first_row = static_cast<int32_t>(p.input_ids.size());
  const int32_t owed_end = std::min(end, seq->prompt_logits_end);
  if (owed_end > start) {  // prompt rows whose logits are owed (SeqParams.prompt_logits)
    for (int32_t pos = start; pos < owed_end; ++pos) {
      p.prompt_logits_indices.push_back(first_row + pos - start);
    }
    p.prompt_logits_indptr.push_back(static_cast<int32_t>(p.prompt_logits_indices.size()));
    p.prompt_logits_seq_ids.push_back(seq->id);
  }
  for (int32_t pos = start; pos < kv_end; ++pos) {
    p.input_ids.push_back(pos < end ? seq->tokens[pos] : draft[pos - end]);
    p.positions.push_back(pos);
    p.slot_mapping.push_back(table[bm.Block(pos)] * bs + bm.Offset(pos));
  }
  p.seq_ids.push_back(seq->id);
  p.query_start_loc.push_back(static_cast<int32_t>(p.input_ids.size()));
  p.num_computed_tokens.push_back(start);
  p.seq_lens.push_back(kv_end);
  const int32_t num_kv_blocks = bm.BlocksFor(kv_end);
  p.kv_indices.insert(p.kv_indices.end(), table.begin(), table.begin() + num_kv_blocks);
  p.kv_indptr.push_back(static_cast<int32_t>(p.kv_indices.size()));
  p.kv_last_page_len.push_back(kv_end - (num_kv_blocks - 1) * bs);
  if (end == static_cast<int32_t>(seq->tokens.size())) {
    const int32_t last_real = static_cast<int32_t>(p.input_ids.size()) - 1 - num_draft;
    for (int32_t r = 0; r <= num_draft; ++r) p.logits_indices.push_back(last_real + r);
    p.sample_indptr.push_back(static_cast<int32_t>(p.logits_indices.size()));
    p.sample_seq_ids.push_back(seq->id);
  }
}

const StepEvents& BatchLoop::Commit(const int32_t* sampled, int32_t num_sampled,
                                    const int32_t* num_accepted, int32_t num_accepted_len) {
  CheckCommit(sampled, num_sampled, num_accepted, num_accepted_len);
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
    if (seq->num_computed >= seq->prompt_logits_end) seq->prompt_logits_end = 0;  // all owed
    FinishReason reason = FinishReason::kNone;
    if (seq->num_computed == static_cast<int32_t>(seq->tokens.size())) {
      reason = AppendSampled(seq, k, num_accepted != nullptr ? num_accepted[k] : 0, sampled[k]);
      ++k;
    }
    if (bm.Block(seq->num_computed) > bm.Block(before)) {  // a block filled up: register it
      blocks_.CommitComputed(seq->id, seq->tokens.data(), seq->num_computed);
    }
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

void BatchLoop::CheckCommit(const int32_t* sampled, int32_t num_sampled,
                            const int32_t* num_accepted, int32_t num_accepted_len) const {
  PASTE_CHECK_ARG(in_flight_, "commit() called without a scheduled step");
  const int32_t m = static_cast<int32_t>(plan_.sample_seq_ids.size());
  PASTE_CHECK_ARG(num_sampled == m, "commit() got ", num_sampled,
                  " sampled tokens, the plan expects ", m);
  CheckTokens(sampled, num_sampled);
  if (num_accepted == nullptr) {
    PASTE_CHECK_ARG(num_accepted_len == 0, "num_accepted is null but num_accepted_len is ",
                    num_accepted_len);
    return;
  }
  PASTE_CHECK_ARG(num_accepted_len == m, "commit() got ", num_accepted_len,
                  " accepted-draft counts, the plan expects ", m);
  for (int32_t i = 0; i < m; ++i) {
    const int32_t num_draft = plan_.sample_indptr[i + 1] - plan_.sample_indptr[i] - 1;
    PASTE_CHECK_ARG(num_accepted[i] >= 0 && num_accepted[i] <= num_draft, "num_accepted[", i,
                    "] = ", num_accepted[i], " is outside [0, ", num_draft, "]: sequence ",
                    plan_.sample_seq_ids[i], " had ", num_draft, " draft tokens");
  }
}

// Sampler `sampler` of the plan: its first num_accepted drafts, then the sampled token, until
// one finishes the turn. Their KV is computed except the last appended token's.
FinishReason BatchLoop::AppendSampled(Sequence* seq, int32_t sampler, int32_t num_accepted,
                                      int32_t sampled) {
  const int32_t* drafts = plan_.draft_tokens.data() + plan_.sample_indptr[sampler] - sampler;
  FinishReason reason = FinishReason::kNone;
  for (int32_t t = 0; t < num_accepted && reason == FinishReason::kNone; ++t) {
    reason = AppendToken(seq, drafts[t]);
    ++stats_.num_accepted_draft_tokens;
  }
  if (reason == FinishReason::kNone) reason = AppendToken(seq, sampled);
  seq->num_computed = static_cast<int32_t>(seq->tokens.size()) - 1;
  if (seq->ngram_draft > 0) {  // its acceptance record (draft_policy.h)
    const bool rejected = num_accepted < seq->ngram_draft;
    seq->draft_hits = kDraftMemory * seq->draft_hits + num_accepted;
    seq->draft_trials = kDraftMemory * seq->draft_trials + num_accepted + (rejected ? 1 : 0);
    seq->ngram_draft = 0;
  } else if (seq->shadow_draft >= 0) {  // the cut proposal's first token, as a one-draft trial
    seq->draft_hits = kDraftMemory * seq->draft_hits + (sampled == seq->shadow_draft ? 1 : 0);
    seq->draft_trials = kDraftMemory * seq->draft_trials + 1;
    seq->shadow_draft = -1;
  }
  return reason;
}

// Appends one token to the turn and reports it as an event with its finish reason.
FinishReason BatchLoop::AppendToken(Sequence* seq, int32_t token) {
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
  return reason;
}

void BatchLoop::AbandonStep() {
  PASTE_CHECK_ARG(in_flight_, "abandon_step() called without a scheduled step");
  // The step's drafts live only in plan_ (rebuilt by the next Schedule()); its explicit ones
  // were cleared when it was scheduled, so nothing else is kept.
  for (Sequence* seq : scheduled_) {
    seq->ngram_draft = 0;
    seq->shadow_draft = -1;
  }
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

}  // namespace paste
