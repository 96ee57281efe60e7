// TrieMatcher: follows each decoding sequence through the trie of its predicted calls, so that
// the engine learns in its commit step, per sequence, whether the call being decoded is one of
// the calls already predicted (and speculatively dispatched).
//
// Each sequence owns a PrefixTrie of its candidates and a cursor. The cursor keeps the tokens
// decoded since the last Reset and the path of trie nodes they matched:
//
//   candidates   7: [5 9 2]   8: [5 9 4]
//   decoded      5  9  4  1           (since Reset)
//   path         0 -5-> 1 -9-> 2 -4-> 4      4 ends candidate 8: CONFIRMED(8) at 3 tokens
//
// Status after each step:
//   CONFIRMED(c)  the path reached the end of candidate c (the first end met; the call's own
//                 tokens are then exactly c's tokens). Sticky: later tokens are recorded but
//                 not matched, until Reset or a Rollback to before the confirmation.
//   PENDING       every decoded token is matched and some candidate goes on from there.
//   REFUTED       a decoded token left the trie, or no candidate is left on the path.
// Where matching starts is the engine's choice: Reset(seq) at the position where the call
// begins (e.g. when the scanner reports CALL_START, with candidates rendered without the start
// tag). Candidates may be added and removed at any time: an added candidate extends the path
// over the tokens already decoded (a REFUTED sequence can become PENDING or CONFIRMED); a removed
// one cuts the path back to its deepest node still alive. Rollback(seq, k) forgets the last k
// decoded tokens and cuts the path to match. Costs: Advance is O(1) hash lookups per token;
// AddCandidate and RemoveCandidate are O(candidate length).
//
// Not thread-safe: driven by the engine thread (one Advance per step, batch over sequences).
#ifndef PASTE_TRIE_MATCHER_H_
#define PASTE_TRIE_MATCHER_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "paste/prefix_trie.h"

namespace paste {

enum class MatchStatus : int8_t { kPending = 0, kConfirmed = 1, kRefuted = 2 };

// Per-sequence results of one Advance, in input order.
struct MatchResults {
  std::vector<int8_t> status;          // MatchStatus
  std::vector<int64_t> candidate_ids;  // confirmed candidate, else -1
  std::vector<int32_t> num_matched;    // decoded tokens matched by the path (confirmed: c's length)
};

struct MatchState {
  MatchStatus status;
  int64_t candidate_id;  // -1 unless confirmed
  int32_t num_matched;
  int32_t num_decoded;   // tokens decoded since Reset
};

class TrieMatcher {
 public:
  void AddSequence(int64_t seq_id);
  void RemoveSequence(int64_t seq_id);
  bool HasSequence(int64_t seq_id) const { return seqs_.count(seq_id) != 0; }
  int32_t NumSequences() const { return static_cast<int32_t>(seqs_.size()); }

  // Candidate sets are per sequence. AddCandidate throws InvalidArgument if cand_id is already
  // a candidate of seq_id or the tokens are empty/negative; RemoveCandidate returns false if
  // cand_id is not one.
  void AddCandidate(int64_t seq_id, int64_t cand_id, const int32_t* tokens, int32_t num_tokens);
  bool RemoveCandidate(int64_t seq_id, int64_t cand_id);
  void ClearCandidates(int64_t seq_id);
  int32_t NumCandidates(int64_t seq_id) const;

  // Forgets the decoded tokens: matching starts again at the root with the next token.
  void Reset(int64_t seq_id);
  // Forgets the last num_tokens decoded tokens (0 <= num_tokens <= num_decoded).
  void Rollback(int64_t seq_id, int32_t num_tokens);

  // One engine step: sequence seq_ids[i] decoded tokens[token_offsets[i]:token_offsets[i+1]]
  // (token_offsets has num_seqs + 1 non-decreasing entries). Every argument is validated
  // before anything changes. Results are written to *out (resized to num_seqs).
  void Advance(const int64_t* seq_ids, int32_t num_seqs, const int32_t* token_offsets,
               const int32_t* tokens, MatchResults* out);

  MatchState State(int64_t seq_id) const;

 private:
  struct SeqMatch {
    PrefixTrie trie;
    std::vector<int32_t> decoded;
    std::vector<int32_t> path{PrefixTrie::kRoot};  // path[i]: node after i matched tokens
    int64_t confirmed = PrefixTrie::kNoCandidate;
    int32_t confirmed_depth = -1;
  };
  const SeqMatch& Get(int64_t seq_id) const;
  SeqMatch& Get(int64_t seq_id);
  static void Extend(SeqMatch& s);
  static MatchState StateOf(const SeqMatch& s);

  std::unordered_map<int64_t, SeqMatch> seqs_;
  std::vector<SeqMatch*> scratch_;  // Advance: the sequences of the batch, looked up once
};

}  // namespace paste

#endif  // PASTE_TRIE_MATCHER_H_
