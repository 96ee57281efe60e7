// Implementation notes for BlockManager (the algorithm is described in block_manager.h).
#include "paste/block_manager.h"

#include <algorithm>

#include "paste/errors.h"

namespace paste {

namespace {
// splitmix64 finaliser: a cheap, well-mixed 64-bit permutation.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching,
                           int32_t hash_bits)
    : block_size_(block_size), enable_prefix_caching_(enable_prefix_caching) {
  PASTE_CHECK_ARG(num_blocks > 0, "num_blocks must be positive, got ", num_blocks);
  PASTE_CHECK_ARG(block_size > 0, "block_size must be positive, got ", block_size);
  PASTE_CHECK_ARG(hash_bits >= 1 && hash_bits <= 64, "hash_bits must be in [1, 64], got ",
                  hash_bits);
  hash_mask_ = hash_bits == 64 ? ~0ULL : ((1ULL << hash_bits) - 1);
  blocks_.resize(num_blocks);
  for (int32_t i = 0; i < num_blocks; ++i) fresh_.push_back(i);
}

uint64_t BlockManager::HashBlock(uint64_t parent_hash, const int32_t* tokens) const {
  uint64_t h = Mix(parent_hash ^ 0x5a17e5eedULL);
  for (int32_t i = 0; i < block_size_; ++i) h = Mix(h ^ static_cast<uint32_t>(tokens[i]));
  return h & hash_mask_;
}

const BlockManager::SeqState& BlockManager::GetSeq(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) throw UnknownSequence(detail::Concat("unknown sequence id ", seq_id));
  return it->second;
}

BlockManager::SeqState& BlockManager::GetSeq(int64_t seq_id) {
  return const_cast<SeqState&>(static_cast<const BlockManager*>(this)->GetSeq(seq_id));
}

std::vector<int32_t> BlockManager::MatchPrefix(const int32_t* tokens, int32_t num_tokens,
                                               uint64_t salt) const {
  std::vector<int32_t> matched;
  if (!enable_prefix_caching_ || num_tokens < block_size_) return matched;
  PASTE_CHECK_ARG(tokens != nullptr, "tokens must not be null");
  uint64_t h = salt;
  int32_t parent = -1;
  for (int32_t b = 0; (b + 1) * block_size_ <= num_tokens; ++b) {
    const int32_t* block_tokens = tokens + static_cast<int64_t>(b) * block_size_;
    h = HashBlock(h, block_tokens);
    auto it = cache_.find(h);
    if (it == cache_.end()) break;
    const Block& blk = blocks_[it->second];
    // Content check: same salt, same tokens and same parent content as the block matched
    // just before.
    if (blk.salt != salt) break;
    if (!std::equal(blk.tokens.begin(), blk.tokens.end(), block_tokens)) break;
    if (blk.parent_id != parent) break;
    if (parent >= 0 && blk.parent_generation != blocks_[parent].generation) break;
    matched.push_back(it->second);
    parent = it->second;
  }
  return matched;
}

int32_t BlockManager::CountFreeIn(const std::vector<int32_t>& prefix) const {
  int32_t n = 0;
  for (int32_t b : prefix) n += blocks_[b].ref_count == 0 ? 1 : 0;
  return n;
}

bool BlockManager::CanAllocate(const std::vector<int32_t>& prefix, int32_t num_slots) const {
  int32_t needed = std::max<int32_t>(0, NumBlocksFor(num_slots) - static_cast<int32_t>(prefix.size()));
  // Attaching a free cached prefix block takes it out of the free pools too.
  return needed <= NumFreeBlocks() - CountFreeIn(prefix);
}

void BlockManager::Allocate(int64_t seq_id, const std::vector<int32_t>& prefix,
                            int32_t num_slots, uint64_t salt) {
  PASTE_CHECK_ARG(seq_id >= 0, "sequence id must be non-negative, got ", seq_id);
  PASTE_CHECK_ARG(!HasSequence(seq_id), "sequence ", seq_id, " already has blocks");
  PASTE_CHECK_ARG(num_slots >= 0, "num_slots must be non-negative, got ", num_slots);
  for (int32_t b : prefix) {
    PASTE_CHECK_ARG(b >= 0 && b < num_blocks() && blocks_[b].hashed,
                    "prefix block ", b, " is not a cached block");
    PASTE_CHECK_ARG(blocks_[b].salt == salt, "prefix block ", b,
                    " was cached under another cache salt");
  }
  if (!CanAllocate(prefix, num_slots)) {
    throw OutOfBlocks(detail::Concat("cannot allocate ", num_slots, " slots for sequence ", seq_id,
                                     ": ", NumFreeBlocks(), " free blocks"));
  }
  SeqState& seq = seqs_[seq_id];
  seq.salt = salt;
  seq.chain_hash = salt;
  for (int32_t b : prefix) {
    Block& blk = blocks_[b];
    if (blk.ref_count == 0) LruRemove(b);
    ++blk.ref_count;
    seq.block_table.push_back(b);
    seq.chain_hash = blk.hash;
    seq.chain_parent = b;
    seq.chain_parent_generation = blk.generation;
  }
  seq.num_registered = static_cast<int32_t>(prefix.size());
  while (static_cast<int32_t>(seq.block_table.size()) < NumBlocksFor(num_slots)) {
    seq.block_table.push_back(TakeFreeBlock());
  }
}

int32_t BlockManager::NumNewBlocksNeeded(int64_t seq_id, int32_t num_slots) const {
  const SeqState& seq = GetSeq(seq_id);
  return std::max<int32_t>(0, NumBlocksFor(num_slots) - static_cast<int32_t>(seq.block_table.size()));
}

bool BlockManager::CanGrow(int64_t seq_id, int32_t num_slots) const {
  return NumNewBlocksNeeded(seq_id, num_slots) <= NumFreeBlocks();
}

void BlockManager::Grow(int64_t seq_id, int32_t num_slots) {
  SeqState& seq = GetSeq(seq_id);
  int32_t needed = NumNewBlocksNeeded(seq_id, num_slots);
  if (needed > NumFreeBlocks()) {
    throw OutOfBlocks(detail::Concat("cannot grow sequence ", seq_id, " to ", num_slots,
                                     " slots: needs ", needed, " blocks, ", NumFreeBlocks(),
                                     " free"));
  }
  for (int32_t i = 0; i < needed; ++i) seq.block_table.push_back(TakeFreeBlock());
}

const std::vector<int32_t>* BlockManager::TryGrow(int64_t seq_id, int32_t num_slots) {
  SeqState& seq = GetSeq(seq_id);
  int32_t needed =
      std::max<int32_t>(0, NumBlocksFor(num_slots) - static_cast<int32_t>(seq.block_table.size()));
  if (needed > NumFreeBlocks()) return nullptr;
  for (int32_t i = 0; i < needed; ++i) seq.block_table.push_back(TakeFreeBlock());
  return &seq.block_table;
}

void BlockManager::CommitComputed(int64_t seq_id, const int32_t* tokens, int32_t num_computed) {
  SeqState& seq = GetSeq(seq_id);
  int32_t num_full = num_computed / block_size_;
  PASTE_CHECK_ARG(num_computed >= 0 &&
                      num_full <= static_cast<int32_t>(seq.block_table.size()),
                  "num_computed ", num_computed, " exceeds the slots of sequence ", seq_id);
  if (!enable_prefix_caching_) {
    seq.num_registered = std::max(seq.num_registered, num_full);
    return;
  }
  for (int32_t b = seq.num_registered; b < num_full && seq.chain_open; ++b) {
    const int32_t* block_tokens = tokens + static_cast<int64_t>(b) * block_size_;
    seq.chain_hash = HashBlock(seq.chain_hash, block_tokens);
    seq.num_registered = b + 1;
    int32_t id = seq.block_table[b];
    Block& blk = blocks_[id];
    if (seq.chain_parent >= 0 &&
        blocks_[seq.chain_parent].generation != seq.chain_parent_generation) {
      seq.chain_open = false;  // the twin we chained through was evicted
      break;
    }
    if (blk.hashed) {  // shared from the cache (prefix hit)
      seq.chain_parent = id;
      seq.chain_parent_generation = blk.generation;
      continue;
    }
    auto it = cache_.find(seq.chain_hash);
    if (it != cache_.end()) {
      // Another sequence registered this hash first. If it is the same content after the same
      // parent, continue the chain through that twin; otherwise it is a hash collision and the
      // rest of this sequence stays private.
      const Block& twin = blocks_[it->second];
      bool same = twin.salt == seq.salt &&
                  std::equal(twin.tokens.begin(), twin.tokens.end(), block_tokens) &&
                  twin.parent_id == seq.chain_parent &&
                  twin.parent_generation == seq.chain_parent_generation;
      if (same) {
        seq.chain_parent = it->second;
        seq.chain_parent_generation = twin.generation;
      } else {
        seq.chain_open = false;
      }
      continue;
    }
    blk.hashed = true;
    blk.hash = seq.chain_hash;
    blk.tokens.assign(block_tokens, block_tokens + block_size_);
    blk.parent_id = seq.chain_parent;
    blk.parent_generation = seq.chain_parent_generation;
    blk.salt = seq.salt;
    cache_.emplace(seq.chain_hash, id);
    seq.chain_parent = id;
    seq.chain_parent_generation = blk.generation;
  }
  if (!seq.chain_open) seq.num_registered = std::max(seq.num_registered, num_full);
}

void BlockManager::Free(int64_t seq_id) {
  SeqState& seq = GetSeq(seq_id);
  for (auto it = seq.block_table.rbegin(); it != seq.block_table.rend(); ++it) Release(*it);
  if (IsPinned(seq_id)) Unpin(seq_id);
  seqs_.erase(seq_id);
}

void BlockManager::Release(int32_t block_id) {
  Block& blk = blocks_[block_id];
  PASTE_CHECK(blk.ref_count > 0, "block ", block_id, " released with ref count 0");
  if (--blk.ref_count > 0) return;
  if (blk.hashed) {
    LruPushBack(block_id);
  } else {
    fresh_.push_back(block_id);
  }
}

int32_t BlockManager::TakeFreeBlock() {
  int32_t id;
  if (!fresh_.empty()) {
    id = fresh_.front();
    fresh_.pop_front();
  } else {
    PASTE_CHECK(lru_head_ >= 0, "no free block to take");
    id = lru_head_;
    ForgetContent(id);
  }
  Block& blk = blocks_[id];
  PASTE_DCHECK(blk.ref_count == 0);
  blk.ref_count = 1;
  ++blk.generation;
  return id;
}

void BlockManager::ForgetContent(int32_t block_id) {
  LruRemove(block_id);
  Block& blk = blocks_[block_id];
  auto it = cache_.find(blk.hash);
  if (it != cache_.end() && it->second == block_id) cache_.erase(it);
  blk.hashed = false;
  blk.tokens.clear();
  blk.parent_id = -1;
  blk.salt = 0;
  ++num_evictions_;
}

int32_t BlockManager::EvictCachedFree() {
  int32_t evicted = 0;
  while (lru_head_ >= 0) {
    int32_t id = lru_head_;
    ForgetContent(id);
    ++blocks_[id].generation;  // a chain through it stops (as when a block is taken)
    fresh_.push_back(id);
    ++evicted;
  }
  return evicted;
}

void BlockManager::LruPushBack(int32_t block_id) {
  Block& blk = blocks_[block_id];
  PASTE_DCHECK(!blk.in_lru);
  blk.in_lru = true;
  blk.lru_prev = lru_tail_;
  blk.lru_next = -1;
  if (lru_tail_ >= 0) blocks_[lru_tail_].lru_next = block_id; else lru_head_ = block_id;
  lru_tail_ = block_id;
  ++num_cached_free_;
}

void BlockManager::LruRemove(int32_t block_id) {
  Block& blk = blocks_[block_id];
  PASTE_DCHECK(blk.in_lru);
  if (blk.lru_prev >= 0) blocks_[blk.lru_prev].lru_next = blk.lru_next; else lru_head_ = blk.lru_next;
  if (blk.lru_next >= 0) blocks_[blk.lru_next].lru_prev = blk.lru_prev; else lru_tail_ = blk.lru_prev;
  blk.in_lru = false;
  blk.lru_prev = blk.lru_next = -1;
  --num_cached_free_;
}

void BlockManager::Pin(int64_t seq_id, double expiry) {
  GetSeq(seq_id);
  if (IsPinned(seq_id)) Unpin(seq_id);
  PinKey key{expiry, pin_counter_++, seq_id};
  pins_.insert(key);
  pin_of_.emplace(seq_id, key);
}

void BlockManager::Unpin(int64_t seq_id) {
  auto it = pin_of_.find(seq_id);
  if (it == pin_of_.end()) {
    GetSeq(seq_id);  // throws for an unknown id
    return;          // unpinning an unpinned sequence is a no-op
  }
  pins_.erase(it->second);
  pin_of_.erase(it);
}

bool BlockManager::IsPinned(int64_t seq_id) const { return pin_of_.count(seq_id) != 0; }

std::vector<int64_t> BlockManager::ReclaimPinned(int32_t num_free_wanted, double now,
                                                 bool include_unexpired, int64_t exclude) {
  std::vector<int64_t> freed;
  auto it = pins_.begin();
  while (NumFreeBlocks() < num_free_wanted && it != pins_.end()) {
    const auto& [expiry, order, seq_id] = *it;
    if (expiry > now && !include_unexpired) break;
    if (seq_id == exclude) {
      ++it;
      continue;
    }
    int64_t victim = seq_id;
    ++it;  // Free() erases the current entry
    Free(victim);
    freed.push_back(victim);
  }
  return freed;
}

const std::vector<int32_t>& BlockManager::BlockTable(int64_t seq_id) const {
  return GetSeq(seq_id).block_table;
}

int32_t BlockManager::RefCount(int32_t block_id) const {
  PASTE_CHECK_ARG(block_id >= 0 && block_id < num_blocks(), "block id out of range: ", block_id);
  return blocks_[block_id].ref_count;
}

bool BlockManager::IsCached(int32_t block_id) const {
  PASTE_CHECK_ARG(block_id >= 0 && block_id < num_blocks(), "block id out of range: ", block_id);
  return blocks_[block_id].hashed;
}

std::vector<int32_t> BlockManager::FreeBlockOrder() const {
  std::vector<int32_t> order(fresh_.begin(), fresh_.end());
  for (int32_t b = lru_head_; b >= 0; b = blocks_[b].lru_next) order.push_back(b);
  return order;
}

}  // namespace paste
