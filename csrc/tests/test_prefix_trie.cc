// Exact-state tests of PrefixTrie (node ids, live counts, node reuse) and TrieMatcher (status,
// confirmed candidate and matched length after every step; adds, removes, rollbacks, resets).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <vector>

#include "paste/errors.h"
#include "paste/prefix_trie.h"
#include "paste/trie_matcher.h"

namespace paste {
namespace {

using Toks = std::vector<int32_t>;

void Insert(PrefixTrie& t, int64_t cand, const Toks& toks) {
  t.Insert(cand, toks.data(), static_cast<int32_t>(toks.size()));
}

TEST(PrefixTrie, LayoutMatchesTheHeaderDiagram) {
  PrefixTrie t;
  Insert(t, 7, {5, 9, 2});
  Insert(t, 8, {5, 9, 4});
  Insert(t, 9, {6});
  EXPECT_EQ(t.num_candidates(), 3);
  EXPECT_EQ(t.num_nodes(), 6);
  EXPECT_EQ(t.Child(0, 5), 1);
  EXPECT_EQ(t.Child(1, 9), 2);
  EXPECT_EQ(t.Child(2, 2), 3);
  EXPECT_EQ(t.Child(2, 4), 4);
  EXPECT_EQ(t.Child(0, 6), 5);
  EXPECT_EQ(t.Child(0, 9), PrefixTrie::kNoNode);
  EXPECT_EQ(t.NumLive(0), 3);
  EXPECT_EQ(t.NumLive(1), 2);
  EXPECT_EQ(t.NumLive(2), 2);
  EXPECT_EQ(t.NumLive(3), 1);
  EXPECT_EQ(t.CandidateAt(3), 7);
  EXPECT_EQ(t.CandidateAt(4), 8);
  EXPECT_EQ(t.CandidateAt(2), PrefixTrie::kNoCandidate);
  EXPECT_EQ(t.Depth(4), 3);
}

TEST(PrefixTrie, RemoveFreesOnlyUnsharedNodesAndReusesIds) {
  PrefixTrie t;
  Insert(t, 7, {5, 9, 2});
  Insert(t, 8, {5, 9, 4});
  EXPECT_TRUE(t.Remove(7));
  EXPECT_FALSE(t.Remove(7));
  EXPECT_EQ(t.num_nodes(), 4);  // root, 5, 9, 4
  EXPECT_EQ(t.Child(2, 2), PrefixTrie::kNoNode);
  EXPECT_FALSE(t.IsAlive(3));
  EXPECT_EQ(t.NumLive(1), 1);
  Insert(t, 10, {5, 9, 3});  // takes freed node 3
  EXPECT_EQ(t.Child(2, 3), 3);
  EXPECT_EQ(t.CandidateAt(3), 10);
  EXPECT_TRUE(t.Remove(8));
  EXPECT_TRUE(t.Remove(10));
  EXPECT_EQ(t.num_nodes(), 1);
  EXPECT_EQ(t.NumLive(0), 0);
}

TEST(PrefixTrie, IdenticalCandidatesShareTheEndNodeEarliestFirst) {
  PrefixTrie t;
  Insert(t, 4, {1, 2});
  Insert(t, 3, {1, 2});
  EXPECT_EQ(t.CandidateAt(2), 4);
  EXPECT_TRUE(t.Remove(4));
  EXPECT_EQ(t.CandidateAt(2), 3);
  EXPECT_TRUE(t.IsAlive(2));
}

TEST(PrefixTrie, RejectsBadInputWithoutChangingState) {
  PrefixTrie t;
  Insert(t, 1, {1, 2});
  EXPECT_THROW(Insert(t, 1, {3}), InvalidArgument);
  EXPECT_THROW(Insert(t, 2, {}), InvalidArgument);
  EXPECT_THROW(Insert(t, -2, {3}), InvalidArgument);
  EXPECT_THROW(Insert(t, 2, {3, -1}), InvalidArgument);
  EXPECT_EQ(t.num_nodes(), 3);
  EXPECT_EQ(t.num_candidates(), 1);
  EXPECT_EQ(t.NumLive(0), 1);
}

TEST(PrefixTrie, RandomInsertRemoveAgreesWithAPrefixSetModel) {
  // Many edges in few distinct tokens: exercises table growth and backward-shift deletion.
  std::mt19937 rng(11);
  PrefixTrie t;
  std::map<int64_t, Toks> live;
  for (int op = 0; op < 1500; ++op) {
    if (live.empty() || rng() % 3 != 0) {
      Toks toks(1 + rng() % 6);
      for (auto& x : toks) x = static_cast<int32_t>(rng() % 4);
      int64_t cand = op;
      Insert(t, cand, toks);
      live[cand] = toks;
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      ASSERT_TRUE(t.Remove(it->first));
      live.erase(it);
    }
    ASSERT_EQ(t.num_candidates(), static_cast<int32_t>(live.size()));
    if (op % 25 != 0) continue;
    std::set<Toks> prefixes;
    std::map<Toks, int64_t> first_end;  // earliest inserted = smallest id here
    for (const auto& [cand, toks] : live) {
      for (size_t i = 1; i <= toks.size(); ++i) {
        prefixes.insert(Toks(toks.begin(), toks.begin() + static_cast<std::ptrdiff_t>(i)));
      }
      if (!first_end.count(toks)) first_end[toks] = cand;
    }
    ASSERT_EQ(t.num_nodes(), static_cast<int32_t>(prefixes.size()) + 1) << "op " << op;
    for (const auto& p : prefixes) {
      int32_t node = PrefixTrie::kRoot;
      bool ends = false;
      for (int32_t tok : p) node = t.Step(node, tok, &ends);
      ASSERT_NE(node, PrefixTrie::kNoNode);
      auto e = first_end.find(p);
      ASSERT_EQ(ends, e != first_end.end());
      ASSERT_EQ(t.CandidateAt(node), e == first_end.end() ? PrefixTrie::kNoCandidate : e->second);
    }
  }
}

// ---- TrieMatcher ----

struct Step {
  MatchStatus status;
  int64_t cand;
  int32_t matched;
};

bool operator==(const Step& a, const Step& b) {
  return a.status == b.status && a.cand == b.cand && a.matched == b.matched;
}
std::ostream& operator<<(std::ostream& os, const Step& s) {
  return os << "{" << static_cast<int>(s.status) << ", " << s.cand << ", " << s.matched << "}";
}

constexpr MatchStatus kPending = MatchStatus::kPending;
constexpr MatchStatus kConfirmed = MatchStatus::kConfirmed;
constexpr MatchStatus kRefuted = MatchStatus::kRefuted;

class TrieMatcherTest : public ::testing::Test {
 protected:
  void Add(int64_t seq, int64_t cand, const Toks& toks) {
    m.AddCandidate(seq, cand, toks.data(), static_cast<int32_t>(toks.size()));
  }
  // Advances the listed sequences, each by its own tokens, and returns the results.
  std::vector<Step> Adv(const std::vector<int64_t>& seqs, const std::vector<Toks>& toks) {
    std::vector<int32_t> offsets{0};
    Toks flat;
    for (const auto& t : toks) {
      flat.insert(flat.end(), t.begin(), t.end());
      offsets.push_back(static_cast<int32_t>(flat.size()));
    }
    MatchResults r;
    m.Advance(seqs.data(), static_cast<int32_t>(seqs.size()), offsets.data(), flat.data(), &r);
    std::vector<Step> out;
    for (size_t i = 0; i < seqs.size(); ++i) {
      out.push_back({static_cast<MatchStatus>(r.status[i]), r.candidate_ids[i],
                     r.num_matched[i]});
    }
    return out;
  }
  Step One(int64_t seq, const Toks& toks) { return Adv({seq}, {toks})[0]; }

  TrieMatcher m;
};

TEST_F(TrieMatcherTest, ConfirmsRefutesAndStaysPendingPerSequence) {
  m.AddSequence(1);
  m.AddSequence(2);
  Add(1, 7, {5, 9, 2});
  Add(1, 8, {5, 9, 4});
  Add(2, 7, {5, 9, 2});
  EXPECT_EQ(Adv({1, 2}, {{5}, {5, 9}}),
            (std::vector<Step>{{kPending, -1, 1}, {kPending, -1, 2}}));
  EXPECT_EQ(Adv({1, 2}, {{9, 4}, {4}}),
            (std::vector<Step>{{kConfirmed, 8, 3}, {kRefuted, -1, 2}}));
  // Confirmation is sticky; later tokens are recorded but not matched.
  EXPECT_EQ(One(1, {100, 101}), (Step{kConfirmed, 8, 3}));
  EXPECT_EQ(m.State(1).num_decoded, 5);
  EXPECT_EQ(One(2, {2}), (Step{kRefuted, -1, 2}));
}

TEST_F(TrieMatcherTest, EmptyCandidateSetIsRefutedAndSequencesWithoutTokensReport) {
  m.AddSequence(1);
  EXPECT_EQ(One(1, {}), (Step{kRefuted, -1, 0}));
  Add(1, 3, {4, 4});
  EXPECT_EQ(One(1, {}), (Step{kPending, -1, 0}));
}

TEST_F(TrieMatcherTest, CandidateAddedLateCatchesUpOnDecodedTokens) {
  m.AddSequence(1);
  Add(1, 1, {1, 2, 3});
  EXPECT_EQ(One(1, {1, 5}), (Step{kRefuted, -1, 1}));
  Add(1, 2, {1, 5, 6});
  EXPECT_EQ(m.State(1).status, kPending);
  EXPECT_EQ(m.State(1).num_matched, 2);
  EXPECT_EQ(One(1, {6}), (Step{kConfirmed, 2, 3}));
  // A candidate equal to a prefix of the decoded tokens confirms at once.
  m.Reset(1);
  EXPECT_EQ(One(1, {1, 2, 9, 9}), (Step{kRefuted, -1, 2}));
  Add(1, 3, {1, 2});
  EXPECT_EQ(m.State(1).status, kConfirmed);
  EXPECT_EQ(m.State(1).candidate_id, 3);
  EXPECT_EQ(m.State(1).num_matched, 2);
}

TEST_F(TrieMatcherTest, RemovingCandidatesCutsThePath) {
  m.AddSequence(1);
  Add(1, 1, {1, 2, 3, 4});
  Add(1, 2, {1, 7});
  EXPECT_EQ(One(1, {1, 2}), (Step{kPending, -1, 2}));
  EXPECT_TRUE(m.RemoveCandidate(1, 1));
  EXPECT_FALSE(m.RemoveCandidate(1, 1));
  EXPECT_EQ(m.State(1).status, kRefuted);
  EXPECT_EQ(m.State(1).num_matched, 1);  // node of token 1 lives on through candidate 2
  EXPECT_EQ(m.NumCandidates(1), 1);
  // Re-adding restores the match over the decoded tokens.
  Add(1, 1, {1, 2, 3, 4});
  EXPECT_EQ(m.State(1).status, kPending);
  EXPECT_EQ(One(1, {3, 4}), (Step{kConfirmed, 1, 4}));
}

TEST_F(TrieMatcherTest, RollbackUndoesTokensAndConfirmation) {
  m.AddSequence(1);
  Add(1, 1, {1, 2, 3});
  Add(1, 2, {1, 2, 4});
  EXPECT_EQ(One(1, {1, 2, 3, 8}), (Step{kConfirmed, 1, 3}));
  m.Rollback(1, 1);  // drops 8: still confirmed at depth 3
  EXPECT_EQ(m.State(1).status, kConfirmed);
  m.Rollback(1, 1);  // drops 3
  EXPECT_EQ(m.State(1).status, kPending);
  EXPECT_EQ(m.State(1).num_matched, 2);
  EXPECT_EQ(One(1, {4}), (Step{kConfirmed, 2, 3}));
  m.Rollback(1, 3);
  EXPECT_EQ(m.State(1).num_decoded, 0);
  EXPECT_EQ(One(1, {9}), (Step{kRefuted, -1, 0}));
  m.Rollback(1, 1);  // back before the divergence
  EXPECT_EQ(One(1, {1}), (Step{kPending, -1, 1}));
  EXPECT_THROW(m.Rollback(1, 2), InvalidArgument);
}

TEST_F(TrieMatcherTest, RollbackPastAConfirmationRewalksTheCurrentCandidates) {
  m.AddSequence(1);
  Add(1, 1, {1, 2, 3});
  Add(1, 2, {1, 9});
  EXPECT_EQ(One(1, {1, 2, 3, 7}), (Step{kConfirmed, 1, 3}));
  EXPECT_TRUE(m.RemoveCandidate(1, 1));  // confirmation stands; the path is cut to [1]
  EXPECT_EQ(m.State(1).status, kConfirmed);
  Add(1, 3, {1, 2, 3, 7, 8});
  m.Rollback(1, 2);  // decoded [1, 2]: walks candidate 3
  EXPECT_EQ(m.State(1).status, kPending);
  EXPECT_EQ(m.State(1).num_matched, 2);
  EXPECT_EQ(One(1, {3, 7, 8}), (Step{kConfirmed, 3, 5}));
}

TEST_F(TrieMatcherTest, ResetStartsMatchingAgainKeepingCandidates) {
  m.AddSequence(1);
  Add(1, 1, {1, 2});
  EXPECT_EQ(One(1, {7, 7, 7}), (Step{kRefuted, -1, 0}));
  m.Reset(1);
  EXPECT_EQ(m.State(1).num_decoded, 0);
  EXPECT_EQ(One(1, {1, 2}), (Step{kConfirmed, 1, 2}));
  m.ClearCandidates(1);
  m.Reset(1);
  EXPECT_EQ(One(1, {1}), (Step{kRefuted, -1, 0}));
}

TEST_F(TrieMatcherTest, BadInputChangesNothing) {
  m.AddSequence(1);
  Add(1, 1, {1, 2});
  EXPECT_THROW(m.AddSequence(1), InvalidArgument);
  EXPECT_THROW(Add(2, 1, {1}), UnknownSequence);
  EXPECT_THROW(Add(1, 1, {3}), InvalidArgument);
  // Unknown sequence in the middle of a batch: sequence 1 is not advanced either.
  EXPECT_THROW(Adv({1, 5}, {{1}, {1}}), UnknownSequence);
  EXPECT_EQ(m.State(1).num_decoded, 0);
  std::vector<int64_t> seqs{1};
  std::vector<int32_t> offsets{2, 1};
  Toks toks{1, 2};
  MatchResults r;
  EXPECT_THROW(m.Advance(seqs.data(), 1, offsets.data(), toks.data(), &r), InvalidArgument);
  EXPECT_EQ(m.State(1).num_decoded, 0);
  m.RemoveSequence(1);
  EXPECT_FALSE(m.HasSequence(1));
  EXPECT_THROW(m.RemoveSequence(1), UnknownSequence);
}

}  // namespace
}  // namespace paste
