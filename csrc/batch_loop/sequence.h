// Internal to csrc/batch_loop (not a public header): the state of one sequence and the helpers
// that both halves of BatchLoop use, batch_loop.cc (sequence lifecycle and queues) and
// batch_loop_step.cc (Schedule / Commit).
#ifndef PASTE_BATCH_LOOP_SEQUENCE_H_
#define PASTE_BATCH_LOOP_SEQUENCE_H_

#include <cstdint>
#include <vector>

#include "paste/batch_loop.h"
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
  // Its n-gram drafts' record (draft_policy.h): decayed accepted drafts and verified-up-to-
  // the-first-rejection drafts; this step's number of n-gram drafts (0: none or explicit);
  // the first token of this step's n-gram proposal when all of it was cut (-1: none), which
  // the committed token then scores as a one-draft trial.
  double draft_hits = 0.0;
  double draft_trials = 0.0;
  int32_t ngram_draft = 0;
  int32_t shadow_draft = -1;
  // SeqParams.prompt_logits: rows at positions below this still owe their logits (0: none).
  int32_t prompt_logits_end = 0;
};

// Weight of a sequence's earlier draft record at each update (about ten drafted steps).
constexpr double kDraftMemory = 0.9;

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

inline void CheckTokens(const int32_t* tokens, int32_t num_tokens) {
  PASTE_CHECK_ARG(num_tokens >= 0, "num_tokens must be non-negative, got ", num_tokens);
  PASTE_CHECK_ARG(num_tokens == 0 || tokens != nullptr, "tokens must not be null");
  for (int32_t i = 0; i < num_tokens; ++i) {
    PASTE_CHECK_ARG(tokens[i] >= 0, "negative token id ", tokens[i], " at index ", i);
  }
}

}  // namespace paste

#endif  // PASTE_BATCH_LOOP_SEQUENCE_H_
