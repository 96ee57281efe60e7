// Exact-state tests of BlockManager: block ids handed out, eviction order, prefix hits with
// content checks, pins and their reclaim order, and state left unchanged by bad input.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "paste/block_manager.h"
#include "paste/errors.h"

namespace paste {
namespace {

using Ids = std::vector<int32_t>;

std::vector<int32_t> Range(int32_t begin, int32_t end) {
  std::vector<int32_t> v(end - begin);
  std::iota(v.begin(), v.end(), begin);
  return v;
}

// Allocates a new sequence for `tokens` (with prefix hits) and commits all of them.
void AddComputed(BlockManager& bm, int64_t seq, const std::vector<int32_t>& tokens) {
  auto prefix = bm.MatchPrefix(tokens.data(), static_cast<int32_t>(tokens.size()));
  bm.Allocate(seq, prefix, static_cast<int32_t>(tokens.size()));
  bm.CommitComputed(seq, tokens.data(), static_cast<int32_t>(tokens.size()));
}

TEST(BlockManager, HandsOutFreshBlocksInOrder) {
  BlockManager bm(6, 4);
  bm.Allocate(1, {}, 9);  // 3 blocks
  EXPECT_EQ(bm.BlockTable(1), (Ids{0, 1, 2}));
  bm.Allocate(2, {}, 4);
  EXPECT_EQ(bm.BlockTable(2), (Ids{3}));
  EXPECT_EQ(bm.NumFreeBlocks(), 2);
  bm.Grow(2, 5);
  EXPECT_EQ(bm.BlockTable(2), (Ids{3, 4}));
  bm.Grow(2, 8);  // still fits in 2 blocks
  EXPECT_EQ(bm.BlockTable(2), (Ids{3, 4}));
}

TEST(BlockManager, FreedUncachedBlocksReturnToFreshTailLastBlockFirst) {
  BlockManager bm(6, 4, /*enable_prefix_caching=*/false);
  bm.Allocate(1, {}, 12);  // 0 1 2
  bm.Free(1);
  EXPECT_EQ(bm.FreeBlockOrder(), (Ids{3, 4, 5, 2, 1, 0}));
  bm.Allocate(2, {}, 8);
  EXPECT_EQ(bm.BlockTable(2), (Ids{3, 4}));
}

TEST(BlockManager, PrefixHitSharesBlocksAndCountsRefs) {
  BlockManager bm(8, 4);
  auto a = Range(0, 10);  // two full blocks + 2 tokens
  AddComputed(bm, 1, a);
  EXPECT_EQ(bm.BlockTable(1), (Ids{0, 1, 2}));
  EXPECT_TRUE(bm.IsCached(0));
  EXPECT_TRUE(bm.IsCached(1));
  EXPECT_FALSE(bm.IsCached(2));  // partial block stays private
  auto b = Range(0, 8);
  b.push_back(100);
  auto prefix = bm.MatchPrefix(b.data(), 9);
  EXPECT_EQ(prefix, (Ids{0, 1}));
  bm.Allocate(2, prefix, 9);
  EXPECT_EQ(bm.BlockTable(2), (Ids{0, 1, 3}));
  EXPECT_EQ(bm.RefCount(0), 2);
  EXPECT_EQ(bm.RefCount(1), 2);
  EXPECT_EQ(bm.RefCount(3), 1);
}

TEST(BlockManager, DivergingBlockStopsTheMatch) {
  BlockManager bm(8, 4);
  AddComputed(bm, 1, Range(0, 12));
  auto b = Range(0, 12);
  b[5] = 77;  // second block differs
  EXPECT_EQ(bm.MatchPrefix(b.data(), 12), (Ids{0}));
  // Same second block after a different first block: no match (chained hash).
  auto c = Range(0, 12);
  c[0] = 55;
  EXPECT_EQ(bm.MatchPrefix(c.data(), 12), (Ids{}));
}

TEST(BlockManager, CachedFreeBlocksEvictLeastRecentlyReleasedDeepestFirst) {
  BlockManager bm(6, 2);
  AddComputed(bm, 1, {1, 2, 3, 4});  // blocks 0 1
  AddComputed(bm, 2, {5, 6, 7, 8});  // blocks 2 3
  bm.Free(2);
  bm.Free(1);
  // Fresh 4 5 first; then LRU: seq 2 released first (deepest block 3 first), then seq 1.
  EXPECT_EQ(bm.FreeBlockOrder(), (Ids{4, 5, 3, 2, 1, 0}));
  EXPECT_EQ(bm.NumCachedFreeBlocks(), 4);
  bm.Allocate(3, {}, 6);  // takes 4 5 3: evicts block 3
  EXPECT_EQ(bm.BlockTable(3), (Ids{4, 5, 3}));
  EXPECT_EQ(bm.num_evictions(), 1);
  std::vector<int32_t> t2{5, 6, 7, 8};
  EXPECT_EQ(bm.MatchPrefix(t2.data(), 4), (Ids{2}));  // block 3's content is gone
  std::vector<int32_t> t1{1, 2, 3, 4};
  EXPECT_EQ(bm.MatchPrefix(t1.data(), 4), (Ids{0, 1}));
}

TEST(BlockManager, EvictCachedFreeDropsFreeContentAndKeepsHeldBlocks) {
  BlockManager bm(8, 2);
  AddComputed(bm, 1, {1, 2, 3, 4});  // blocks 0 1, held
  AddComputed(bm, 2, {5, 6, 7, 8});  // blocks 2 3
  bm.Free(2);                        // 3 2 go to the cached LRU
  EXPECT_EQ(bm.FreeBlockOrder(), (Ids{4, 5, 6, 7, 3, 2}));
  EXPECT_EQ(bm.EvictCachedFree(), 2);
  // evicted blocks join the fresh tail in LRU order; nothing is cached-free any more
  EXPECT_EQ(bm.FreeBlockOrder(), (Ids{4, 5, 6, 7, 3, 2}));
  EXPECT_EQ(bm.NumCachedFreeBlocks(), 0);
  EXPECT_EQ(bm.NumFreeBlocks(), 6);
  EXPECT_EQ(bm.num_evictions(), 2);
  EXPECT_FALSE(bm.IsCached(2));
  EXPECT_FALSE(bm.IsCached(3));
  std::vector<int32_t> t2{5, 6, 7, 8};
  EXPECT_EQ(bm.MatchPrefix(t2.data(), 4), (Ids{}));  // gone
  std::vector<int32_t> t1{1, 2, 3, 4};
  EXPECT_EQ(bm.MatchPrefix(t1.data(), 4), (Ids{0, 1}));  // held: kept
  EXPECT_EQ(bm.EvictCachedFree(), 0);                     // idempotent
  bm.Free(1);                                             // its blocks are cached as usual
  EXPECT_EQ(bm.NumCachedFreeBlocks(), 2);
  EXPECT_EQ(bm.MatchPrefix(t1.data(), 4), (Ids{0, 1}));
}

TEST(BlockManager, PrefixHitOnFreeCachedBlockRemovesItFromLru) {
  BlockManager bm(4, 2);
  AddComputed(bm, 1, {1, 2, 3, 4});
  bm.Free(1);
  EXPECT_EQ(bm.FreeBlockOrder(), (Ids{2, 3, 1, 0}));
  std::vector<int32_t> t{1, 2, 9};
  auto prefix = bm.MatchPrefix(t.data(), 3);
  EXPECT_EQ(prefix, (Ids{0}));
  EXPECT_TRUE(bm.CanAllocate(prefix, 3));
  bm.Allocate(2, prefix, 3);
  EXPECT_EQ(bm.BlockTable(2), (Ids{0, 2}));
  EXPECT_EQ(bm.FreeBlockOrder(), (Ids{3, 1}));
}

TEST(BlockManager, CanAllocateCountsFreePrefixBlocksAsTaken) {
  BlockManager bm(2, 2);
  AddComputed(bm, 1, {1, 2});
  bm.Free(1);  // block 0 cached free, block 1 fresh
  std::vector<int32_t> t{1, 2, 3, 4, 5};
  auto prefix = bm.MatchPrefix(t.data(), 5);
  ASSERT_EQ(prefix, (Ids{0}));
  EXPECT_TRUE(bm.CanAllocate(prefix, 4));   // 0 + one fresh
  EXPECT_FALSE(bm.CanAllocate(prefix, 5));  // would need 2 more, only 1 left
  EXPECT_THROW(bm.Allocate(2, prefix, 5), OutOfBlocks);
  EXPECT_FALSE(bm.HasSequence(2));
  EXPECT_EQ(bm.FreeBlockOrder(), (Ids{1, 0}));
}

TEST(BlockManager, HashCollisionNeverSharesWrongBlocks) {
  BlockManager bm(16, 2, true, /*hash_bits=*/1);  // every hash is 0 or 1
  AddComputed(bm, 1, {1, 2, 3, 4, 5, 6});
  for (int32_t x = 0; x < 50; ++x) {
    std::vector<int32_t> t{x, x + 100, 7, 8};
    auto prefix = bm.MatchPrefix(t.data(), 4);
    EXPECT_TRUE(prefix.empty()) << "tokens " << x << " matched a block with other content";
  }
  // With 2 hash values at most one block per value is registered; the true content still hits
  // its first block, and never anything but a prefix of its own blocks.
  std::vector<int32_t> same{1, 2, 3, 4, 9, 9};
  auto hit = bm.MatchPrefix(same.data(), 6);
  ASSERT_GE(hit.size(), 1u);
  EXPECT_EQ(hit[0], 0);
  if (hit.size() == 2) EXPECT_EQ(hit[1], 1);
}

TEST(BlockManager, EvictedParentBreaksChildChain) {
  BlockManager bm(3, 2);
  AddComputed(bm, 1, {1, 2, 3, 4});  // 0 <- 1
  bm.Free(1);                        // LRU: 1, 0 (after fresh 2)
  bm.Allocate(2, {}, 4);             // takes 2 then evicts 1
  EXPECT_EQ(bm.BlockTable(2), (Ids{2, 1}));
  std::vector<int32_t> t{1, 2, 3, 4};
  EXPECT_EQ(bm.MatchPrefix(t.data(), 4), (Ids{0}));
}

TEST(BlockManager, TwinBlocksKeepTheChainGoing) {
  BlockManager bm(8, 2);
  auto prefix_none = std::vector<int32_t>{};
  // Two sequences with the same first block computed before either was cached.
  bm.Allocate(1, {}, 4);
  bm.Allocate(2, {}, 4);
  std::vector<int32_t> a{1, 2, 3, 4}, b{1, 2, 5, 6};
  bm.CommitComputed(1, a.data(), 4);
  bm.CommitComputed(2, b.data(), 4);  // block 2 is a twin of block 0; block 3 chains on 0
  EXPECT_FALSE(bm.IsCached(2));
  EXPECT_TRUE(bm.IsCached(3));
  EXPECT_EQ(bm.MatchPrefix(b.data(), 4), (Ids{0, 3}));
}

TEST(BlockManager, CacheSaltsSeparatePrefixes) {
  BlockManager bm(16, 2);
  std::vector<int32_t> t{1, 2, 3, 4, 5};
  auto none = bm.MatchPrefix(t.data(), 5, /*salt=*/7);
  bm.Allocate(1, none, 5, /*salt=*/7);
  bm.CommitComputed(1, t.data(), 5);
  EXPECT_EQ(bm.BlockTable(1), (Ids{0, 1, 2}));
  EXPECT_EQ(bm.MatchPrefix(t.data(), 5, 7), (Ids{0, 1}));  // same salt: hit
  EXPECT_EQ(bm.MatchPrefix(t.data(), 5), Ids{});            // unsalted: miss
  EXPECT_EQ(bm.MatchPrefix(t.data(), 5, 8), Ids{});         // another salt: miss
  // Another salt computes the same tokens into blocks of its own, registered beside salt 7's.
  bm.Allocate(2, {}, 5, /*salt=*/8);
  bm.CommitComputed(2, t.data(), 5);
  EXPECT_EQ(bm.BlockTable(2), (Ids{3, 4, 5}));
  EXPECT_TRUE(bm.IsCached(3));
  EXPECT_TRUE(bm.IsCached(4));
  EXPECT_EQ(bm.MatchPrefix(t.data(), 5, 8), (Ids{3, 4}));
  EXPECT_EQ(bm.MatchPrefix(t.data(), 5, 7), (Ids{0, 1}));
  // A salt-7 block handed to a sequence of another salt is refused, nothing changed.
  auto before = bm.FreeBlockOrder();
  EXPECT_THROW(bm.Allocate(3, {0, 1}, 5, /*salt=*/8), InvalidArgument);
  EXPECT_THROW(bm.Allocate(3, {0, 1}, 5), InvalidArgument);
  EXPECT_FALSE(bm.HasSequence(3));
  EXPECT_EQ(bm.FreeBlockOrder(), before);
  EXPECT_EQ(bm.RefCount(0), 1);
}

TEST(BlockManager, CacheSaltIsCheckedBesideTheHash) {
  // One hash bit: salts 2 and 3 give colliding chains often; the salt check keeps them apart.
  BlockManager bm(64, 2, true, /*hash_bits=*/1);
  std::vector<int32_t> t{1, 2};
  bm.Allocate(1, {}, 2, /*salt=*/2);
  bm.CommitComputed(1, t.data(), 2);
  ASSERT_TRUE(bm.IsCached(0));
  for (uint64_t salt = 3; salt < 40; ++salt) {
    EXPECT_EQ(bm.MatchPrefix(t.data(), 2, salt), Ids{}) << "salt " << salt << " hit salt 2";
  }
  EXPECT_EQ(bm.MatchPrefix(t.data(), 2, 2), (Ids{0}));
}

TEST(BlockManager, PinsReclaimExpiredOldestFirstThenUnexpired) {
  BlockManager bm(6, 2, false);
  bm.Allocate(1, {}, 4);  // 0 1
  bm.Allocate(2, {}, 2);  // 2
  bm.Allocate(3, {}, 2);  // 3
  bm.Pin(1, 30.0);
  bm.Pin(2, 10.0);
  bm.Pin(3, 20.0);
  EXPECT_EQ(bm.NumFreeBlocks(), 2);
  // Need 3 free at t=15: only seq 2 has expired.
  EXPECT_EQ(bm.ReclaimPinned(3, 15.0, false), (std::vector<int64_t>{2}));
  EXPECT_FALSE(bm.HasSequence(2));
  EXPECT_EQ(bm.NumFreeBlocks(), 3);
  // Need 6 at t=15 without unexpired: nothing more.
  EXPECT_TRUE(bm.ReclaimPinned(6, 15.0, false).empty());
  // With unexpired allowed, earliest expiry first: 3 (20) then 1 (30).
  EXPECT_EQ(bm.ReclaimPinned(6, 15.0, true), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(bm.NumFreeBlocks(), 6);
}

TEST(BlockManager, ReclaimStopsAsSoonAsEnoughIsFreeAndHonoursExclude) {
  BlockManager bm(4, 2, false);
  bm.Allocate(1, {}, 2);
  bm.Allocate(2, {}, 2);
  bm.Allocate(3, {}, 2);
  bm.Pin(1, 1.0);
  bm.Pin(2, 2.0);
  bm.Pin(3, 3.0);
  EXPECT_EQ(bm.ReclaimPinned(3, 10.0, false, /*exclude=*/1), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(bm.HasSequence(1));
  EXPECT_TRUE(bm.IsPinned(1));
}

TEST(BlockManager, UnpinnedSequencesAreNeverReclaimed) {
  BlockManager bm(2, 2, false);
  bm.Allocate(1, {}, 4);
  bm.Pin(1, 0.0);
  bm.Unpin(1);
  EXPECT_TRUE(bm.ReclaimPinned(2, 100.0, true).empty());
  EXPECT_TRUE(bm.HasSequence(1));
}

TEST(BlockManager, BadInputThrowsAndChangesNothing) {
  BlockManager bm(4, 2);
  bm.Allocate(1, {}, 2);
  auto before = bm.FreeBlockOrder();
  EXPECT_THROW(bm.Allocate(1, {}, 2), InvalidArgument);    // id in use
  EXPECT_THROW(bm.Allocate(2, {}, -1), InvalidArgument);   // negative size
  EXPECT_THROW(bm.Allocate(-5, {}, 2), InvalidArgument);   // negative id
  EXPECT_THROW(bm.Allocate(2, {3}, 4), InvalidArgument);   // uncached prefix block
  EXPECT_THROW(bm.Allocate(2, {}, 100), OutOfBlocks);
  EXPECT_THROW(bm.Free(9), UnknownSequence);
  EXPECT_THROW(bm.Grow(9, 2), UnknownSequence);
  EXPECT_THROW(bm.Grow(1, 100), OutOfBlocks);
  EXPECT_THROW(bm.Pin(9, 1.0), UnknownSequence);
  EXPECT_EQ(bm.FreeBlockOrder(), before);
  EXPECT_EQ(bm.BlockTable(1), (Ids{0}));
  bm.Free(1);
  EXPECT_THROW(bm.Free(1), UnknownSequence);  // freeing twice
  EXPECT_THROW(BlockManager(0, 2), InvalidArgument);
  EXPECT_THROW(BlockManager(2, 0), InvalidArgument);
}

}  // namespace
}  // namespace paste
