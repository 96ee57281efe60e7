// Helpers shared by the BatchLoop tests (not a public header): a small loop config and a
// step that commits the same token for every sampler.
#ifndef PASTE_TESTS_BATCH_LOOP_TESTING_H_
#define PASTE_TESTS_BATCH_LOOP_TESTING_H_

#include <cstdint>
#include <vector>

#include "paste/batch_loop.h"

namespace paste::testing_util {

inline BatchLoopConfig Config(int32_t num_blocks, int32_t block_size, int32_t budget,
                              int32_t max_seqs = 8, int32_t max_len = 64) {
  BatchLoopConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = max_seqs;
  c.max_model_len = max_len;
  return c;
}

// Schedules one step and commits `token` as every sampler's sampled token.
inline const StepEvents& CommitAll(BatchLoop& loop, int32_t token) {
  std::vector<int32_t> sampled(loop.Schedule(0).sample_seq_ids.size(), token);
  return loop.Commit(sampled.data(), static_cast<int32_t>(sampled.size()));
}

}  // namespace paste::testing_util

#endif  // PASTE_TESTS_BATCH_LOOP_TESTING_H_
