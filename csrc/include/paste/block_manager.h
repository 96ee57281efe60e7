// BlockManager: accounting for a paged KV cache (which block holds which tokens).
//
// A sequence's KV lives in fixed-size blocks. Its block table maps token position p to
// block_table[p / block_size]; the token's slot is block_id * block_size + p % block_size.
//
//   positions:   0 ........ 15 | 16 ....... 31 | 32 33 . . . .
//   block_table: [     7       |      2        |      9       ]
//                 full, hashed   full, hashed    partial, private
//
// Prefix caching. When a block is full of computed tokens it gets a chained hash
// h_i = H(h_{i-1}, tokens of block i) and is registered in a hash -> block map, so a later
// sequence with the same first tokens shares it (ref count + 1) instead of recomputing it. A hash
// hit is taken only after a content check: the cached block's own tokens must be equal and its
// recorded parent (block id, generation) must be the block matched just before it. A hash
// collision therefore never shares wrong KV; it only costs a miss.
//
// Cache salts. A sequence may carry a salt (0: none): its chain starts from h_0 = salt instead
// of 0, and every block it registers records the salt, checked with the content. Sequences
// share cached blocks only when their salts are equal, so a tenant whose requests carry their
// own salt never hits (or learns through timing that another tenant sent) another's prefix.
//
// Free blocks (ref count 0) sit in one of two pools, handed out in this order:
//   fresh:  blocks with no reusable content, FIFO (initially 0, 1, ..., num_blocks - 1);
//   cached: hashed blocks whose content may still be hit, least recently released first (LRU).
// Taking a block from `cached` evicts its content (hash dropped, generation bumped). A sequence
// releases its blocks from last to first, so its deeper blocks are evicted before its first ones.
//
// Pins. A sequence parked while its session waits on a tool keeps its blocks, pinned with an
// expiry time. When memory is needed, ReclaimPinned frees pinned sequences: expired pins first,
// oldest expiry first, then (only if the caller allows) unexpired pins in expiry order. Freed
// full blocks go to the cached pool, so even a reclaimed session may still get prefix hits.
//
// Not thread-safe: owned and driven by one engine thread.
#ifndef PASTE_BLOCK_MANAGER_H_
#define PASTE_BLOCK_MANAGER_H_

#include <cstdint>
#include <deque>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace paste {

class BlockManager {
 public:
  // hash_bits < 64 truncates block hashes (tests use it to force collisions).
  BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching = true,
               int32_t hash_bits = 64);

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t block_size() const { return block_size_; }
  bool enable_prefix_caching() const { return enable_prefix_caching_; }

  // Blocks that can be handed out now: fresh plus cached-free (evictable).
  int32_t NumFreeBlocks() const { return static_cast<int32_t>(fresh_.size()) + num_cached_free_; }
  int32_t NumCachedFreeBlocks() const { return num_cached_free_; }
  int32_t NumUsedBlocks() const { return num_blocks() - NumFreeBlocks(); }
  int32_t NumBlocksFor(int32_t num_slots) const { return (num_slots + block_size_ - 1) / block_size_; }
  bool HasSequence(int64_t seq_id) const { return seqs_.count(seq_id) != 0; }
  int32_t NumSequences() const { return static_cast<int32_t>(seqs_.size()); }

  // Longest run of cached full blocks of `salt` equal to the start of tokens[0:num_tokens).
  // No side effects.
  std::vector<int32_t> MatchPrefix(const int32_t* tokens, int32_t num_tokens,
                                   uint64_t salt = 0) const;

  // Can a new sequence whose first blocks are `prefix` (from MatchPrefix) get num_slots slots?
  bool CanAllocate(const std::vector<int32_t>& prefix, int32_t num_slots) const;
  // Creates seq_id (of cache salt `salt`) sharing `prefix` and adds fresh blocks up to
  // num_slots slots. Throws InvalidArgument (known id, bad prefix, a prefix block of another
  // salt) or OutOfBlocks; state unchanged on throw.
  void Allocate(int64_t seq_id, const std::vector<int32_t>& prefix, int32_t num_slots,
                uint64_t salt = 0);

  // Blocks seq_id must take from the free pools to hold num_slots slots in total.
  int32_t NumNewBlocksNeeded(int64_t seq_id, int32_t num_slots) const;
  bool CanGrow(int64_t seq_id, int32_t num_slots) const;
  // Adds blocks so that seq_id holds at least num_slots slots. Never shrinks.
  void Grow(int64_t seq_id, int32_t num_slots);
  // Grow() if the free pools allow it, in one lookup: the block table, or nullptr (unchanged).
  // The pointer is valid until the sequence is freed.
  const std::vector<int32_t>* TryGrow(int64_t seq_id, int32_t num_slots);

  // The first num_computed tokens of seq_id now have their KV written: registers the newly full
  // blocks among them in the prefix cache. `tokens` must hold at least num_computed tokens.
  void CommitComputed(int64_t seq_id, const int32_t* tokens, int32_t num_computed);

  // Releases every block of seq_id (last block first) and forgets the sequence.
  void Free(int64_t seq_id);

  // Resetting the prefix cache: every cached free block loses its content (hash dropped,
  // generation bumped) and joins the end of the fresh pool, so no later sequence hits what was
  // computed before. Blocks held by sequences (running or pinned) keep theirs. Returns the
  // number of blocks evicted.
  int32_t EvictCachedFree();

  // Marks seq_id as parked: its blocks stay until ReclaimPinned takes them.
  void Pin(int64_t seq_id, double expiry);
  void Unpin(int64_t seq_id);
  bool IsPinned(int64_t seq_id) const;
  int32_t NumPinnedSequences() const { return static_cast<int32_t>(pins_.size()); }

  // Frees pinned sequences (expired first, oldest expiry first; then unexpired ones if
  // include_unexpired) until NumFreeBlocks() >= num_free_wanted or none is left. Never frees
  // `exclude`. Returns the freed sequence ids in the order they were freed.
  std::vector<int64_t> ReclaimPinned(int32_t num_free_wanted, double now, bool include_unexpired,
                                     int64_t exclude = -1);

  const std::vector<int32_t>& BlockTable(int64_t seq_id) const;

  // Introspection for tests and metrics.
  int32_t RefCount(int32_t block_id) const;
  bool IsCached(int32_t block_id) const;
  // Block ids in the order they would be handed out: fresh FIFO, then cached LRU.
  std::vector<int32_t> FreeBlockOrder() const;
  int64_t num_evictions() const { return num_evictions_; }

 private:
  struct Block {
    int32_t ref_count = 0;
    bool hashed = false;
    uint64_t hash = 0;
    uint32_t generation = 0;  // bumped whenever the block gets new content
    int32_t parent_id = -1;   // the block before this one in the chain it was registered with
    uint32_t parent_generation = 0;
    uint64_t salt = 0;            // the cache salt of the sequence that registered it
    std::vector<int32_t> tokens;  // content of a hashed block, for the collision check
    int32_t lru_prev = -1, lru_next = -1;
    bool in_lru = false;
  };
  struct SeqState {
    std::vector<int32_t> block_table;
    int32_t num_registered = 0;  // leading full blocks already walked by CommitComputed
    uint64_t salt = 0;           // cache salt: what its blocks share with
    uint64_t chain_hash = 0;     // hash of block num_registered - 1 (the salt for none)
    // The registered block holding the same content as block num_registered - 1 (this
    // sequence's own block, or an identical twin registered first by another sequence); new
    // blocks are registered as its children. -1 before the first block.
    int32_t chain_parent = -1;
    uint32_t chain_parent_generation = 0;  // a twin may be evicted meanwhile: then stop
    bool chain_open = true;      // false after a hash collision: later blocks stay private
  };
  using PinKey = std::tuple<double, uint64_t, int64_t>;  // (expiry, pin order, seq id)

  uint64_t HashBlock(uint64_t parent_hash, const int32_t* tokens) const;
  const SeqState& GetSeq(int64_t seq_id) const;
  SeqState& GetSeq(int64_t seq_id);
  int32_t TakeFreeBlock();
  void ForgetContent(int32_t block_id);  // a cached free block's content: dropped
  void Release(int32_t block_id);
  void LruPushBack(int32_t block_id);
  void LruRemove(int32_t block_id);
  int32_t CountFreeIn(const std::vector<int32_t>& prefix) const;

  int32_t block_size_;
  bool enable_prefix_caching_;
  uint64_t hash_mask_;
  std::vector<Block> blocks_;
  std::deque<int32_t> fresh_;  // FIFO of blocks without reusable content
  int32_t lru_head_ = -1, lru_tail_ = -1;
  int32_t num_cached_free_ = 0;
  std::unordered_map<uint64_t, int32_t> cache_;  // block hash -> block id
  std::unordered_map<int64_t, SeqState> seqs_;
  std::set<PinKey> pins_;
  std::unordered_map<int64_t, PinKey> pin_of_;
  uint64_t pin_counter_ = 0;
  int64_t num_evictions_ = 0;
};

}  // namespace paste

#endif  // PASTE_BLOCK_MANAGER_H_
