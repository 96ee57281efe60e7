// BatchLoopConfig::max_loras: at most that many distinct LoRA adapters among the running
// sequences; a sequence of one adapter too many is passed over and holds back later adapter
// sequences (base-model ones pass) until the running adapters drain and it is admitted.
#include <gtest/gtest.h>

#include <vector>

#include "batch_loop_testing.h"
#include "paste/batch_loop.h"
#include "paste/errors.h"

namespace paste {
namespace {

using I32 = std::vector<int32_t>;
using I64 = std::vector<int64_t>;
using testing_util::CommitAll;
using testing_util::Config;

BatchLoopConfig LoraConfig(int32_t max_loras) {
  BatchLoopConfig c = Config(32, 4, 64);
  c.max_loras = max_loras;
  return c;
}

int64_t Add(BatchLoop& loop, int32_t token, int32_t lora_id, int32_t max_tokens,
            double priority = 0) {
  SeqParams p;
  p.max_tokens = max_tokens;
  p.lora_id = lora_id;
  p.priority = priority;
  return loop.AddSequence(&token, 1, p);
}

TEST(BatchLoopLora, OneAdapterAtATimeBaseRowsPassAndNoAdapterOvertakes) {
  BatchLoop loop(LoraConfig(1));
  int64_t a = Add(loop, 1, /*lora_id=*/7, /*max_tokens=*/1);
  int64_t b = Add(loop, 2, 9, 1);
  int64_t c = Add(loop, 3, 0, 3);  // base model
  int64_t d = Add(loop, 4, 7, 1);  // a's adapter, but after b: waits for b
  EXPECT_EQ(loop.GetSeqInfo(b).lora_id, 9);
  EXPECT_EQ(loop.Schedule(0).seq_ids, (I64{a, c}));
  EXPECT_EQ(loop.WaitingOrder(), (I64{b, d}));
  I32 s{5, 5};
  loop.Commit(s.data(), 2);  // a finishes (max_tokens 1): adapter 7 no longer runs
  EXPECT_FALSE(loop.HasSequence(a));
  EXPECT_EQ(loop.Schedule(0).seq_ids, (I64{c, b}));
  EXPECT_EQ(loop.WaitingOrder(), (I64{d}));
  loop.Commit(s.data(), 2);  // b finishes
  EXPECT_EQ(loop.Schedule(0).seq_ids, (I64{c, d}));
  loop.Commit(s.data(), 2);
  EXPECT_FALSE(loop.HasUnfinished());
}

TEST(BatchLoopLora, AnAdapterAlreadyRunningIsAdmittedWhileNothingWasPassedOver) {
  BatchLoop loop(LoraConfig(1));
  int64_t a = Add(loop, 1, 7, 4);
  CommitAll(loop, 5);
  int64_t b = Add(loop, 2, 7, 4);  // same adapter as the running a
  int64_t c = Add(loop, 3, 0, 4);
  EXPECT_EQ(loop.Schedule(0).seq_ids, (I64{a, b, c}));
}

TEST(BatchLoopLora, TwoAdaptersBoundAndNoBound) {
  BatchLoop two(LoraConfig(2));
  int64_t a = Add(two, 1, 1, 4);
  int64_t b = Add(two, 2, 2, 4);
  int64_t c = Add(two, 3, 3, 4);
  int64_t d = Add(two, 4, 0, 4, /*priority=*/-1.0);
  EXPECT_EQ(two.Schedule(0).seq_ids, (I64{a, b, d}));
  EXPECT_EQ(two.WaitingOrder(), (I64{c}));

  BatchLoop any(LoraConfig(0));
  for (int32_t lora = 1; lora <= 4; ++lora) Add(any, lora, lora, 4);
  EXPECT_EQ(any.Schedule(0).seq_ids, (I64{0, 1, 2, 3}));
}

TEST(BatchLoopLora, NegativeBoundIsRefused) {
  EXPECT_THROW(BatchLoop loop(LoraConfig(-1)), InvalidArgument);
}

}  // namespace
}  // namespace paste
