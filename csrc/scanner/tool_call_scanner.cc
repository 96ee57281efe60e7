// Implementation notes for ToolCallScanner (modes and event positions are in the header).
#include "paste/tool_call_scanner.h"

#include "paste/errors.h"

namespace paste {

namespace {

std::vector<int32_t> KmpFailure(const std::vector<int32_t>& tag) {
  std::vector<int32_t> f(tag.size(), 0);
  int32_t k = 0;
  for (size_t i = 1; i < tag.size(); ++i) {
    while (k > 0 && tag[i] != tag[static_cast<size_t>(k)]) k = f[static_cast<size_t>(k) - 1];
    if (tag[i] == tag[static_cast<size_t>(k)]) ++k;
    f[i] = k;
  }
  return f;
}

// Advances a KMP matcher of `tag` by one token; true when the tag is complete (state reset).
bool KmpStep(const std::vector<int32_t>& tag, const std::vector<int32_t>& failure,
             int32_t* matched, int32_t token) {
  int32_t k = *matched;
  while (k > 0 && tag[static_cast<size_t>(k)] != token) k = failure[static_cast<size_t>(k) - 1];
  if (tag[static_cast<size_t>(k)] == token) ++k;
  if (k == static_cast<int32_t>(tag.size())) {
    *matched = 0;
    return true;
  }
  *matched = k;
  return false;
}

inline bool IsSpace(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
// Characters that may stand between calls (or before the first) in json mode.
inline bool IsSeparator(uint8_t c) {
  return IsSpace(c) || c == '[' || c == ']' || c == ',' || c == ';';
}

}  // namespace

ToolCallScanner::ToolCallScanner(const ScannerConfig& config) : config_(config) {
  if (config_.mode == ScanMode::kTag) {
    PASTE_CHECK_ARG(!config_.start_tag.empty() && !config_.end_tag.empty(),
                    "tag mode needs a non-empty start_tag and end_tag");
    start_failure_ = KmpFailure(config_.start_tag);
    end_failure_ = KmpFailure(config_.end_tag);
  } else {
    PASTE_CHECK_ARG(config_.mode == ScanMode::kJson, "unknown scan mode ",
                    static_cast<int>(config_.mode));
  }
}

void ToolCallScanner::SetVocabulary(const int64_t* offsets, int32_t num_tokens,
                                    const uint8_t* bytes) {
  PASTE_CHECK_ARG(num_tokens >= 0 && offsets != nullptr, "bad vocabulary table");
  PASTE_CHECK_ARG(offsets[0] == 0, "vocabulary offsets must start at 0");
  for (int32_t t = 0; t < num_tokens; ++t) {
    PASTE_CHECK_ARG(offsets[t + 1] >= offsets[t], "vocabulary offsets must be non-decreasing "
                    "(token ", t, ")");
  }
  PASTE_CHECK_ARG(bytes != nullptr || offsets[num_tokens] == 0, "vocabulary bytes missing");
  vocab_offsets_.assign(offsets, offsets + num_tokens + 1);
  vocab_bytes_.assign(bytes, bytes + offsets[num_tokens]);
}

const ToolCallScanner::SeqScan& ToolCallScanner::Get(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) throw UnknownSequence(detail::Concat("unknown sequence id ", seq_id));
  return it->second;
}

ToolCallScanner::SeqScan& ToolCallScanner::Get(int64_t seq_id) {
  return const_cast<SeqScan&>(static_cast<const ToolCallScanner*>(this)->Get(seq_id));
}

void ToolCallScanner::AddSequence(int64_t seq_id) {
  PASTE_CHECK_ARG(!HasSequence(seq_id), "sequence ", seq_id, " is already known");
  seqs_.emplace(seq_id, SeqScan{});
}

void ToolCallScanner::RemoveSequence(int64_t seq_id) {
  Get(seq_id);
  seqs_.erase(seq_id);
}

void ToolCallScanner::Reset(int64_t seq_id) { Get(seq_id) = SeqScan{}; }
bool ToolCallScanner::InCall(int64_t seq_id) const { return Get(seq_id).in_call; }
int32_t ToolCallScanner::NumTokens(int64_t seq_id) const { return Get(seq_id).num_tokens; }

void ToolCallScanner::FeedTag(int64_t seq_id, SeqScan& s, int32_t token, ScanEvents* out) {
  const auto& tag = s.in_call ? config_.end_tag : config_.start_tag;
  const auto& failure = s.in_call ? end_failure_ : start_failure_;
  if (!KmpStep(tag, failure, &s.tag_matched, token)) return;
  out->seq_ids.push_back(seq_id);
  out->kinds.push_back(static_cast<int8_t>(s.in_call ? ScanEventKind::kCallComplete
                                                     : ScanEventKind::kCallStart));
  out->token_indices.push_back(s.num_tokens);
  s.in_call = !s.in_call;
}

// Outside a call: keeps may_start and the code-fence state up to date for one byte that is not
// a call-opening '{'.
void ToolCallScanner::FeedOutsideCall(SeqScan& s, uint8_t c) {
  if (config_.code_fences) {
    if (c == '`') {
      if (++s.backticks == 3) {
        s.backticks = 0;
        if (s.fence == Fence::kNone) {
          s.fence = Fence::kInfo;
          s.fence_info.clear();
        } else if (s.fence == Fence::kJsonBody || s.fence == Fence::kOtherBody) {
          s.fence = Fence::kNone;
          s.may_start = false;
        }
      }
      return;
    }
    s.backticks = 0;
    if (s.fence == Fence::kInfo) {
      if (c == '\n') {
        bool json = s.fence_info.empty() || s.fence_info == "json";
        s.fence = json ? Fence::kJsonBody : Fence::kOtherBody;
        s.may_start = json;
      } else if (!IsSpace(c) && s.fence_info.size() < 16) {
        s.fence_info.push_back(static_cast<char>(c));
      }
      return;
    }
  }
  if (!IsSeparator(c)) s.may_start = false;
}

void ToolCallScanner::FeedJson(int64_t seq_id, SeqScan& s, int32_t token, ScanEvents* out) {
  const uint8_t* b = vocab_bytes_.data() + vocab_offsets_[static_cast<size_t>(token)];
  const uint8_t* e = vocab_bytes_.data() + vocab_offsets_[static_cast<size_t>(token) + 1];
  for (; b != e; ++b) {
    uint8_t c = *b;
    if (s.in_call) {
      if (s.in_string) {
        if (s.escape) {
          s.escape = false;
        } else if (c == '\\') {
          s.escape = true;
        } else if (c == '"') {
          s.in_string = false;
        }
      } else if (c == '"') {
        s.in_string = true;
      } else if (c == '{') {
        ++s.depth;
      } else if (c == '}' && --s.depth == 0) {
        s.in_call = false;
        s.may_start = true;
        out->seq_ids.push_back(seq_id);
        out->kinds.push_back(static_cast<int8_t>(ScanEventKind::kCallComplete));
        out->token_indices.push_back(s.num_tokens);
      }
      continue;
    }
    bool fence_ok = s.fence == Fence::kNone || s.fence == Fence::kJsonBody;
    if (c == '{' && fence_ok && (s.may_start || config_.json_start_anywhere)) {
      s.in_call = true;
      s.depth = 1;
      s.in_string = false;
      s.escape = false;
      s.backticks = 0;
      out->seq_ids.push_back(seq_id);
      out->kinds.push_back(static_cast<int8_t>(ScanEventKind::kCallStart));
      out->token_indices.push_back(s.num_tokens);
      continue;
    }
    FeedOutsideCall(s, c);
  }
}

void ToolCallScanner::Scan(const int64_t* seq_ids, int32_t num_seqs, const int32_t* token_offsets,
                           const int32_t* tokens, ScanEvents* out) {
  PASTE_CHECK_ARG(num_seqs >= 0 && out != nullptr, "bad scan arguments");
  if (num_seqs == 0) return;
  PASTE_CHECK_ARG(seq_ids != nullptr && token_offsets != nullptr, "null input arrays");
  PASTE_CHECK_ARG(token_offsets[0] >= 0, "token_offsets[0] must be non-negative");
  bool json = config_.mode == ScanMode::kJson;
  PASTE_CHECK_ARG(!json || vocab_size() > 0,
                  "json mode needs a vocabulary (set_vocabulary) before scanning");
  for (int32_t i = 0; i < num_seqs; ++i) {
    PASTE_CHECK_ARG(token_offsets[i + 1] >= token_offsets[i],
                    "token_offsets must be non-decreasing (index ", i + 1, ")");
    Get(seq_ids[i]);
  }
  PASTE_CHECK_ARG(tokens != nullptr || token_offsets[num_seqs] == token_offsets[0],
                  "tokens must not be null");
  for (int32_t k = token_offsets[0]; k < token_offsets[num_seqs]; ++k) {
    PASTE_CHECK_ARG(tokens[k] >= 0 && (!json || tokens[k] < vocab_size()), "token ", tokens[k],
                    " at index ", k, " is not in the vocabulary");
  }
  for (int32_t i = 0; i < num_seqs; ++i) {
    SeqScan& s = seqs_.find(seq_ids[i])->second;
    for (int32_t k = token_offsets[i]; k < token_offsets[i + 1]; ++k) {
      if (json) {
        FeedJson(seq_ids[i], s, tokens[k], out);
      } else {
        FeedTag(seq_ids[i], s, tokens[k], out);
      }
      ++s.num_tokens;
    }
  }
}

}  // namespace paste
