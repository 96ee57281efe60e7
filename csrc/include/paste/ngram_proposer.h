// ProposeNgramDraft: prompt-lookup drafting of speculative tokens from a sequence's own text.
//
// Agent transcripts repeat themselves (tool names, JSON keys, file paths, code quoted back),
// so the tokens that followed the last time the current suffix appeared are a cheap guess of
// what comes next. The guess costs no model: the batch loop appends it as draft tokens to a
// decoding sequence's query, the model scores them in the same forward, and the engine keeps
// the longest verified prefix.
//
//   tokens:  a b c d x y a b c  ->  suffix "a b c" (len 3) occurred at s = 0,
//            ^^^^^               so the draft is what followed it: d x y (up to k tokens)
//
// Longest match first: len goes from max_n down to min_n (and below n); the first len whose
// suffix tokens[n-len, n) occurs earlier (start s < n-len; it may overlap the suffix) wins, and
// among its occurrences the LATEST one (the most recent context). The draft is
// tokens[s+len, min(s+len+k, n)), so it never reads past the end and holds at least one token.
// One backward scan: O(n * max_n) comparisons at worst.
#ifndef PASTE_NGRAM_PROPOSER_H_
#define PASTE_NGRAM_PROPOSER_H_

#include <cstdint>

namespace paste {

// Writes up to k draft tokens to `out` (room for min(k, n) tokens) and returns their number;
// 0 when no suffix of length in [max(min_n, 1), min(max_n, n - 1)] occurs earlier, or k <= 0.
// Total: any arguments are accepted (min_n > max_n simply matches nothing). Pure; no state.
int32_t ProposeNgramDraft(const int32_t* tokens, int32_t n, int32_t min_n, int32_t max_n,
                          int32_t k, int32_t* out);

}  // namespace paste

#endif  // PASTE_NGRAM_PROPOSER_H_
