// Implementation notes for TrieMatcher (the cursor model is described in trie_matcher.h).
// Invariant of a cursor: path is the greedy walk of decoded through the trie, stopped at the
// first node that ends a candidate (then confirmed_depth = path.size() - 1) or at the first
// token without an edge; every node on it is alive.
#include "paste/trie_matcher.h"

#include "paste/errors.h"

namespace paste {

const TrieMatcher::SeqMatch& TrieMatcher::Get(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) throw UnknownSequence(detail::Concat("unknown sequence id ", seq_id));
  return it->second;
}

TrieMatcher::SeqMatch& TrieMatcher::Get(int64_t seq_id) {
  return const_cast<SeqMatch&>(static_cast<const TrieMatcher*>(this)->Get(seq_id));
}

void TrieMatcher::AddSequence(int64_t seq_id) {
  PASTE_CHECK_ARG(!HasSequence(seq_id), "sequence ", seq_id, " is already known");
  seqs_.emplace(seq_id, SeqMatch{});
}

void TrieMatcher::RemoveSequence(int64_t seq_id) {
  Get(seq_id);
  seqs_.erase(seq_id);
}

void TrieMatcher::Extend(SeqMatch& s) {
  if (s.confirmed_depth >= 0) return;
  while (s.path.size() <= s.decoded.size()) {
    bool ends_candidate = false;
    int32_t child = s.trie.Step(s.path.back(), s.decoded[s.path.size() - 1], &ends_candidate);
    if (child == PrefixTrie::kNoNode) return;
    s.path.push_back(child);
    if (ends_candidate) {
      s.confirmed = s.trie.CandidateAt(child);
      s.confirmed_depth = static_cast<int32_t>(s.path.size()) - 1;
      return;
    }
  }
}

void TrieMatcher::AddCandidate(int64_t seq_id, int64_t cand_id, const int32_t* tokens,
                               int32_t num_tokens) {
  SeqMatch& s = Get(seq_id);
  int32_t end = s.trie.Insert(cand_id, tokens, num_tokens);
  if (s.confirmed_depth >= 0) return;
  // The new candidate may end on the path already walked (its tokens are a prefix of the
  // decoded ones): then it is the first end on the path.
  auto depth = static_cast<size_t>(num_tokens);
  if (depth < s.path.size() && s.path[depth] == end) {
    s.path.resize(depth + 1);
    s.confirmed = s.trie.CandidateAt(end);
    s.confirmed_depth = num_tokens;
    return;
  }
  Extend(s);
}

bool TrieMatcher::RemoveCandidate(int64_t seq_id, int64_t cand_id) {
  SeqMatch& s = Get(seq_id);
  if (!s.trie.Remove(cand_id)) return false;
  while (s.path.size() > 1 && !s.trie.IsAlive(s.path.back())) s.path.pop_back();
  return true;
}

void TrieMatcher::ClearCandidates(int64_t seq_id) {
  SeqMatch& s = Get(seq_id);
  s.trie.Clear();
  s.path.resize(1);
}

int32_t TrieMatcher::NumCandidates(int64_t seq_id) const {
  return Get(seq_id).trie.num_candidates();
}

void TrieMatcher::Reset(int64_t seq_id) {
  SeqMatch& s = Get(seq_id);
  s.decoded.clear();
  s.path.resize(1);
  s.confirmed = PrefixTrie::kNoCandidate;
  s.confirmed_depth = -1;
}

void TrieMatcher::Rollback(int64_t seq_id, int32_t num_tokens) {
  SeqMatch& s = Get(seq_id);
  auto num_decoded = static_cast<int32_t>(s.decoded.size());
  PASTE_CHECK_ARG(num_tokens >= 0 && num_tokens <= num_decoded, "cannot roll back ", num_tokens,
                  " tokens of sequence ", seq_id, ": it decoded ", num_decoded);
  size_t keep = static_cast<size_t>(num_decoded - num_tokens);
  s.decoded.resize(keep);
  if (s.path.size() > keep + 1) s.path.resize(keep + 1);
  if (s.confirmed_depth > static_cast<int32_t>(keep)) {
    s.confirmed = PrefixTrie::kNoCandidate;
    s.confirmed_depth = -1;
    Extend(s);  // the path may have been cut by removals while the confirmation stood
  }
}

MatchState TrieMatcher::StateOf(const SeqMatch& s) {
  MatchState st;
  st.num_decoded = static_cast<int32_t>(s.decoded.size());
  if (s.confirmed_depth >= 0) {
    st.status = MatchStatus::kConfirmed;
    st.candidate_id = s.confirmed;
    st.num_matched = s.confirmed_depth;
    return st;
  }
  st.candidate_id = PrefixTrie::kNoCandidate;
  st.num_matched = static_cast<int32_t>(s.path.size()) - 1;
  // Nodes on the path are alive, so only the root (no token matched) can have no candidate.
  bool all_matched = s.path.size() == s.decoded.size() + 1;
  bool live = s.path.size() > 1 || s.trie.NumLive(PrefixTrie::kRoot) > 0;
  st.status = all_matched && live ? MatchStatus::kPending : MatchStatus::kRefuted;
  return st;
}

MatchState TrieMatcher::State(int64_t seq_id) const { return StateOf(Get(seq_id)); }

void TrieMatcher::Advance(const int64_t* seq_ids, int32_t num_seqs, const int32_t* token_offsets,
                          const int32_t* tokens, MatchResults* out) {
  PASTE_CHECK_ARG(num_seqs >= 0, "num_seqs must be non-negative");
  PASTE_CHECK_ARG(out != nullptr, "out must not be null");
  if (num_seqs > 0) {
    PASTE_CHECK_ARG(seq_ids != nullptr && token_offsets != nullptr, "null input arrays");
    PASTE_CHECK_ARG(token_offsets[0] >= 0, "token_offsets[0] must be non-negative");
    scratch_.resize(static_cast<size_t>(num_seqs));
    for (int32_t i = 0; i < num_seqs; ++i) {
      PASTE_CHECK_ARG(token_offsets[i + 1] >= token_offsets[i], "token_offsets must be "
                      "non-decreasing (index ", i + 1, ")");
      scratch_[static_cast<size_t>(i)] = &Get(seq_ids[i]);  // throws UnknownSequence
    }
    PASTE_CHECK_ARG(tokens != nullptr || token_offsets[num_seqs] == token_offsets[0],
                    "tokens must not be null");
  }
  out->status.resize(static_cast<size_t>(num_seqs));
  out->candidate_ids.resize(static_cast<size_t>(num_seqs));
  out->num_matched.resize(static_cast<size_t>(num_seqs));
  for (int32_t i = 0; i < num_seqs; ++i) {
    SeqMatch& s = *scratch_[static_cast<size_t>(i)];
    s.decoded.insert(s.decoded.end(), tokens + token_offsets[i], tokens + token_offsets[i + 1]);
    Extend(s);
    MatchState st = StateOf(s);
    out->status[static_cast<size_t>(i)] = static_cast<int8_t>(st.status);
    out->candidate_ids[static_cast<size_t>(i)] = st.candidate_id;
    out->num_matched[static_cast<size_t>(i)] = st.num_matched;
  }
}

}  // namespace paste
