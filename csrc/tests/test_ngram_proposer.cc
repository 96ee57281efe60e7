// Exact tests of ProposeNgramDraft: the latest occurrence wins, the longest suffix first, the
// continuation capped at the end of the tokens and at k, and every no-draft case.
#include <gtest/gtest.h>

#include <vector>

#include "paste/ngram_proposer.h"

namespace paste {
namespace {

using I32 = std::vector<int32_t>;

I32 Propose(const I32& tokens, int32_t min_n, int32_t max_n, int32_t k) {
  I32 out(tokens.size() + 1, -1);
  int32_t n = ProposeNgramDraft(tokens.data(), static_cast<int32_t>(tokens.size()), min_n, max_n,
                                k, out.data());
  EXPECT_TRUE(n == 0 || out[n] == -1) << "wrote past the returned count";
  out.resize(n);
  return out;
}

TEST(NgramProposer, LatestOccurrenceWins) {
  //            s=0      s=3      suffix
  I32 tokens{1, 2, 7, 1, 2, 8, 1, 2};
  EXPECT_EQ(Propose(tokens, 2, 2, 2), (I32{8, 1}));  // after the later "1 2", not the first
  EXPECT_EQ(Propose(tokens, 2, 2, 1), (I32{8}));     // capped at k
}

TEST(NgramProposer, LongestSuffixFirst) {
  // "0 1 2" occurs at 0 (followed by 10); the shorter "1 2" occurs later, at 4 (followed by 20).
  I32 tokens{0, 1, 2, 10, 1, 2, 20, 0, 1, 2};
  EXPECT_EQ(Propose(tokens, 2, 3, 3), (I32{10, 1, 2}));
  EXPECT_EQ(Propose(tokens, 2, 2, 3), (I32{20, 0, 1}));  // only length 2 allowed
  EXPECT_EQ(Propose(tokens, 2, 4, 1), (I32{10}));        // length 4 has no earlier occurrence
}

TEST(NgramProposer, ContinuationStopsAtTheEnd) {
  I32 tokens{1, 2, 3, 1, 2};
  EXPECT_EQ(Propose(tokens, 2, 2, 10), (I32{3, 1, 2}));
  // An occurrence may overlap the suffix: "7 7 7" at 0 is followed by the last 7 only.
  EXPECT_EQ(Propose(I32{7, 7, 7, 7}, 2, 3, 5), (I32{7}));
}

TEST(NgramProposer, NoDraft) {
  EXPECT_EQ(Propose(I32{1, 2, 3, 4}, 1, 4, 3), I32{});  // nothing repeats
  EXPECT_EQ(Propose(I32{1, 2, 1, 2}, 2, 2, 0), I32{});  // k = 0
  EXPECT_EQ(Propose(I32{1, 2, 1, 2}, 2, 2, -1), I32{});
  EXPECT_EQ(Propose(I32{1, 2, 1, 2}, 4, 5, 3), I32{});  // min_n > n - 1: no suffix is short enough
  EXPECT_EQ(Propose(I32{1, 2, 1, 2}, 3, 3, 3), I32{});  // "2 1 2" never occurred before
  EXPECT_EQ(Propose(I32{1, 2, 1, 2}, 3, 2, 3), I32{});  // min_n > max_n
  EXPECT_EQ(Propose(I32{5}, 1, 4, 3), I32{});
  EXPECT_EQ(Propose(I32{}, 1, 4, 3), I32{});
  EXPECT_EQ(ProposeNgramDraft(nullptr, 0, 1, 4, 3, nullptr), 0);
}

TEST(NgramProposer, ShortestLengthIsOneAtLeast) {
  I32 tokens{1, 2, 1, 2};
  EXPECT_EQ(Propose(tokens, 1, 1, 3), (I32{1, 2}));  // "2" at 1, followed by "1 2"
  EXPECT_EQ(Propose(tokens, 0, 1, 3), (I32{1, 2}));  // min_n 0 counts as 1
}

}  // namespace
}  // namespace paste
