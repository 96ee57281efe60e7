// ProposeNgramDraft (the contract and an example are in ngram_proposer.h).
#include "paste/ngram_proposer.h"

#include <algorithm>

namespace paste {

// Instead of one search per suffix length, one backward scan over the candidate end positions
// e (an occurrence tokens[e-len, e) of the length-len suffix, e < n): the match length at e is
// how many tokens before e equal the tokens before n. Scanning e from n-1 down, the first e
// reaching a length is that length's latest occurrence, so keeping strictly longer matches
// only yields the longest length and, for it, the latest occurrence.
int32_t ProposeNgramDraft(const int32_t* tokens, int32_t n, int32_t min_n, int32_t max_n,
                          int32_t k, int32_t* out) {
  const int32_t lo = std::max(min_n, 1);
  const int32_t hi = std::min(max_n, n - 1);
  if (k <= 0 || tokens == nullptr || lo > hi) return 0;
  int32_t best_len = lo - 1, best_end = -1;
  for (int32_t e = n - 1; e >= lo && best_len < hi; --e) {
    const int32_t cap = std::min(hi, e);  // an occurrence starts at s = e - len >= 0
    int32_t len = 0;
    while (len < cap && tokens[e - 1 - len] == tokens[n - 1 - len]) ++len;
    if (len > best_len) {
      best_len = len;
      best_end = e;
    }
  }
  if (best_end < 0) return 0;
  const int32_t count = std::min(k, n - best_end);
  std::copy(tokens + best_end, tokens + best_end + count, out);
  return count;
}

}  // namespace paste
