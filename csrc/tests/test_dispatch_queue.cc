// Tests of DispatchQueue: exact pop order (authoritative first, FIFO per lane), cancel and
// promote semantics, fullness, blocking pops, and multi-threaded stress tests (no loss, no
// duplicate, per-producer FIFO, cancel and promote races decided exactly once).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "paste/dispatch_queue.h"
#include "paste/errors.h"

namespace paste {
namespace {

constexpr Lane kAuth = Lane::kAuthoritative;
constexpr Lane kSpec = Lane::kSpeculative;
using Popped = std::vector<std::pair<int64_t, Lane>>;

Popped PopAll(DispatchQueue& q, int32_t max_jobs = 1000) {
  std::vector<PoppedJob> jobs;
  q.TryPopBatch(max_jobs, &jobs);
  Popped out;
  for (const auto& j : jobs) out.emplace_back(j.job_id, j.lane);
  return out;
}

TEST(DispatchQueue, AuthoritativeLaneDrainsFirstFifoPerLane) {
  DispatchQueue q(8);
  ASSERT_TRUE(q.TryPush(10, kSpec));
  ASSERT_TRUE(q.TryPush(1, kAuth));
  ASSERT_TRUE(q.TryPush(11, kSpec));
  ASSERT_TRUE(q.TryPush(2, kAuth));
  EXPECT_EQ(q.NumQueued(kAuth), 2);
  EXPECT_EQ(q.NumQueued(kSpec), 2);
  EXPECT_EQ(PopAll(q), (Popped{{1, kAuth}, {2, kAuth}, {10, kSpec}, {11, kSpec}}));
  EXPECT_EQ(PopAll(q), Popped{});
  EXPECT_EQ(q.NumQueued(kAuth), 0);
  EXPECT_EQ(q.NumQueued(kSpec), 0);
}

TEST(DispatchQueue, TryPopTakesOneJobAuthoritativeFirstSkippingCancelledAndPromoted) {
  DispatchQueue q(8);
  for (int64_t id : {5, 6, 7, 8}) q.Push(id, kSpec);
  q.Push(1, kAuth);
  ASSERT_TRUE(q.Cancel(5));
  ASSERT_TRUE(q.Promote(7));
  Popped popped;
  PoppedJob job{-1, kSpec};
  while (q.TryPop(&job)) popped.emplace_back(job.job_id, job.lane);
  EXPECT_EQ(popped, (Popped{{1, kAuth}, {7, kAuth}, {6, kSpec}, {8, kSpec}}));
  EXPECT_FALSE(q.TryPop(&job));
  EXPECT_EQ(job.job_id, 8);  // unchanged by a failed pop
  EXPECT_EQ(q.NumQueued(kAuth), 0);
  EXPECT_EQ(q.NumQueued(kSpec), 0);
}

TEST(DispatchQueue, BatchRespectsMaxAndReturnsCount) {
  DispatchQueue q(8);
  for (int64_t id : {5, 6, 7}) q.Push(id, kSpec);
  q.Push(1, kAuth);
  std::vector<PoppedJob> out;
  EXPECT_EQ(q.TryPopBatch(2, &out), 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].job_id, 1);
  EXPECT_EQ(out[1].job_id, 5);
  EXPECT_EQ(q.TryPopBatch(0, &out), 0);
  EXPECT_EQ(PopAll(q), (Popped{{6, kSpec}, {7, kSpec}}));
}

TEST(DispatchQueue, CancelRemovesQueuedJobExactlyOnce) {
  DispatchQueue q(8);
  for (int64_t id : {1, 2, 3}) q.Push(id, kSpec);
  q.Push(4, kAuth);
  EXPECT_TRUE(q.Cancel(2));
  EXPECT_FALSE(q.Cancel(2));
  EXPECT_TRUE(q.Cancel(4));
  EXPECT_FALSE(q.Cancel(99));
  EXPECT_EQ(q.LaneOf(2), -1);
  EXPECT_EQ(q.NumQueued(kSpec), 2);
  EXPECT_EQ(q.NumQueued(kAuth), 0);
  EXPECT_EQ(PopAll(q), (Popped{{1, kSpec}, {3, kSpec}}));
  EXPECT_FALSE(q.Cancel(1));  // already popped
}

TEST(DispatchQueue, PromoteMovesSpeculativeJobToAuthoritativeTail) {
  DispatchQueue q(8);
  for (int64_t id : {1, 2, 3}) q.Push(id, kSpec);
  q.Push(9, kAuth);
  EXPECT_EQ(q.LaneOf(2), static_cast<int32_t>(kSpec));
  EXPECT_TRUE(q.Promote(2));
  EXPECT_EQ(q.LaneOf(2), static_cast<int32_t>(kAuth));
  EXPECT_FALSE(q.Promote(2));   // already authoritative
  EXPECT_FALSE(q.Promote(9));   // authoritative job
  EXPECT_FALSE(q.Promote(77));  // unknown
  EXPECT_EQ(q.NumQueued(kAuth), 2);
  EXPECT_EQ(q.NumQueued(kSpec), 2);  // 1 and 3
  EXPECT_EQ(PopAll(q), (Popped{{9, kAuth}, {2, kAuth}, {1, kSpec}, {3, kSpec}}));
}

TEST(DispatchQueue, PromotedJobCanBeCancelled) {
  DispatchQueue q(4);
  q.Push(1, kSpec);
  ASSERT_TRUE(q.Promote(1));
  EXPECT_TRUE(q.Cancel(1));
  EXPECT_EQ(PopAll(q), Popped{});
}

TEST(DispatchQueue, FullLaneRejectsPushAndOtherLaneIsIndependent) {
  DispatchQueue q(3);
  EXPECT_EQ(q.capacity(), 4);
  for (int64_t id = 0; id < 4; ++id) ASSERT_TRUE(q.TryPush(id, kAuth));
  EXPECT_FALSE(q.TryPush(4, kAuth));
  EXPECT_THROW(q.Push(4, kAuth), QueueFull);
  EXPECT_TRUE(q.TryPush(4, kSpec));
  EXPECT_EQ(q.LaneOf(4), static_cast<int32_t>(kSpec));
  // Promote needs a free authoritative cell.
  EXPECT_FALSE(q.Promote(4));
  EXPECT_EQ(q.LaneOf(4), static_cast<int32_t>(kSpec));
  std::vector<PoppedJob> out;
  EXPECT_EQ(q.TryPopBatch(1, &out), 1);
  EXPECT_TRUE(q.Promote(4));
  EXPECT_EQ(PopAll(q), (Popped{{1, kAuth}, {2, kAuth}, {3, kAuth}, {4, kAuth}}));
}

TEST(DispatchQueue, CancelledCellsAreReclaimedWhenAConsumerPasses) {
  DispatchQueue q(2);
  q.Push(1, kAuth);
  q.Push(2, kAuth);
  ASSERT_TRUE(q.Cancel(1));
  ASSERT_TRUE(q.Cancel(2));
  EXPECT_FALSE(q.TryPush(3, kAuth));  // both cells still hold stale tickets
  EXPECT_EQ(PopAll(q), Popped{});     // the consumer drops them
  EXPECT_TRUE(q.TryPush(3, kAuth));
  EXPECT_EQ(PopAll(q), (Popped{{3, kAuth}}));
}

TEST(DispatchQueue, RejectsBadInputWithoutChangingState) {
  EXPECT_THROW(DispatchQueue(0), InvalidArgument);
  DispatchQueue q(4);
  EXPECT_THROW(q.TryPush(-1, kAuth), InvalidArgument);
  q.Push(7, kSpec);
  EXPECT_THROW(q.TryPush(7, kAuth), InvalidArgument);  // already queued
  std::vector<PoppedJob> out;
  EXPECT_THROW(q.TryPopBatch(-1, &out), InvalidArgument);
  EXPECT_THROW(q.PopBatch(1, -1.0, &out), InvalidArgument);
  EXPECT_THROW(q.TryPop(nullptr), InvalidArgument);
  EXPECT_EQ(PopAll(q), (Popped{{7, kSpec}}));
  EXPECT_TRUE(q.TryPush(7, kAuth));  // ids may be reused once popped
  EXPECT_EQ(PopAll(q), (Popped{{7, kAuth}}));
}

TEST(DispatchQueue, ManyIdsSharingHomeRegionStillFit) {
  // Every live job needs a slot in its probe window; fill both lanes completely.
  DispatchQueue q(64);
  for (int64_t id = 0; id < 64; ++id) ASSERT_TRUE(q.TryPush(id * 4096, kAuth));
  for (int64_t id = 0; id < 64; ++id) ASSERT_TRUE(q.TryPush(id * 4096 + 1, kSpec));
  for (int64_t id = 0; id < 64; ++id) EXPECT_EQ(q.LaneOf(id * 4096), 0);
  EXPECT_EQ(PopAll(q).size(), 128u);
}

TEST(DispatchQueue, PopBatchTimesOutWhenEmpty) {
  DispatchQueue q(4);
  std::vector<PoppedJob> out;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q.PopBatch(4, 0.02, &out), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(19));
  EXPECT_TRUE(out.empty());
}

TEST(DispatchQueue, PopBatchWakesOnPushAndOnClose) {
  DispatchQueue q(4);
  std::vector<PoppedJob> got;
  std::thread consumer([&] { q.PopBatch(4, 10.0, &got); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.Push(5, kSpec);
  consumer.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].job_id, 5);

  std::vector<PoppedJob> none;
  std::thread sleeper([&] { EXPECT_EQ(q.PopBatch(4, 10.0, &none), 0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.Close();
  sleeper.join();
  EXPECT_TRUE(q.closed());
  EXPECT_TRUE(q.TryPush(6, kAuth));  // still accepts; PopBatch drains without waiting
  EXPECT_EQ(q.PopBatch(4, 10.0, &none), 1);
}

// ---- Stress tests: ids encode (producer, sequence number, lane). ----

constexpr int kProducers = 4;
constexpr int kConsumers = 4;
constexpr int64_t kPerProducer = 20000;

int64_t MakeId(int producer, int64_t seq) { return producer * 10'000'000LL + seq; }
int ProducerOf(int64_t id) { return static_cast<int>(id / 10'000'000LL); }
int64_t SeqOf(int64_t id) { return id % 10'000'000LL; }

void PushSpinning(DispatchQueue& q, int64_t id, Lane lane) {
  while (!q.TryPush(id, lane)) std::this_thread::yield();
}

TEST(DispatchQueueStress, NoLossNoDuplicatePerProducerFifo) {
  DispatchQueue q(64);
  std::atomic<int> producers_done{0};
  std::vector<std::vector<PoppedJob>> got(kConsumers);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int64_t i = 0; i < kPerProducer; ++i) {
        PushSpinning(q, MakeId(p, i), (i % 3 == 0) ? kAuth : kSpec);
      }
      producers_done.fetch_add(1);
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      // Consumer 0 takes single jobs through TryPop, the others batches of c + 1.
      auto pop = [&]() -> int32_t {
        if (c > 0) return q.TryPopBatch(c + 1, &got[c]);
        PoppedJob job;
        if (!q.TryPop(&job)) return 0;
        got[c].push_back(job);
        return 1;
      };
      for (;;) {
        bool done = producers_done.load() == kProducers;
        if (pop() == 0) {
          if (done) break;
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> seen(static_cast<size_t>(kProducers * kPerProducer), 0);
  for (const auto& jobs : got) {
    // Each consumer takes ring positions in increasing order: per producer and lane, its ids
    // must increase.
    std::vector<std::vector<int64_t>> last(kProducers, std::vector<int64_t>(2, -1));
    for (const auto& j : jobs) {
      int p = ProducerOf(j.job_id);
      int64_t s = SeqOf(j.job_id);
      EXPECT_EQ(j.lane, (s % 3 == 0) ? kAuth : kSpec);
      int lane = static_cast<int>(j.lane);
      EXPECT_GT(s, last[p][lane]) << "FIFO broken for producer " << p;
      last[p][lane] = s;
      ++seen[static_cast<size_t>(p * kPerProducer + s)];
    }
  }
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "job index " << i;
  EXPECT_EQ(q.NumQueued(kAuth), 0);
  EXPECT_EQ(q.NumQueued(kSpec), 0);
}

// Shared driver: producers push every id, a racer thread calls `race` on random recent ids,
// consumers pop everything. Returns per job: times popped, lane popped in, race result.
struct RaceOutcome {
  std::vector<int> popped;
  std::vector<int8_t> lane;
  std::vector<int8_t> race_won;
};

template <typename RaceFn>
RaceOutcome RunRace(Lane push_lane, RaceFn race) {
  constexpr int64_t kPer = 10000;
  DispatchQueue q(128);
  RaceOutcome out;
  out.popped.assign(kProducers * kPer, 0);
  out.lane.assign(kProducers * kPer, -1);
  out.race_won.assign(kProducers * kPer, 0);
  std::vector<std::atomic<int64_t>> pushed(kProducers);
  for (auto& p : pushed) p.store(0);
  std::atomic<int> producers_done{0};
  std::vector<std::vector<PoppedJob>> got(2);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int64_t i = 0; i < kPer; ++i) {
        PushSpinning(q, MakeId(p, i), push_lane);
        pushed[p].store(i + 1, std::memory_order_release);
      }
      producers_done.fetch_add(1);
    });
  }
  threads.emplace_back([&] {
    std::mt19937_64 rng(7);
    while (producers_done.load() < kProducers) {
      int p = static_cast<int>(rng() % kProducers);
      int64_t n = pushed[p].load(std::memory_order_acquire);
      if (n == 0) continue;
      int64_t s = n - 1 - static_cast<int64_t>(rng() % 64);
      if (s < 0) continue;
      if (race(q, MakeId(p, s))) ++out.race_won[static_cast<size_t>(p * kPer + s)];
    }
  });
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      for (;;) {
        bool done = producers_done.load() == kProducers;
        if (q.TryPopBatch(4, &got[c]) == 0) {
          if (done) break;
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Drain what the racer may have left (e.g. promoted after consumers stopped).
  std::vector<PoppedJob> rest;
  q.TryPopBatch(1 << 20, &rest);
  got.push_back(rest);
  for (const auto& jobs : got) {
    for (const auto& j : jobs) {
      size_t k = static_cast<size_t>(ProducerOf(j.job_id) * kPer + SeqOf(j.job_id));
      ++out.popped[k];
      out.lane[k] = static_cast<int8_t>(j.lane);
    }
  }
  return out;
}

TEST(DispatchQueueStress, CancelRaceDecidesEachJobExactlyOnce) {
  RaceOutcome r = RunRace(kSpec, [](DispatchQueue& q, int64_t id) { return q.Cancel(id); });
  int cancelled = 0;
  for (size_t k = 0; k < r.popped.size(); ++k) {
    ASSERT_LE(r.race_won[k], 1) << k;
    ASSERT_EQ(r.popped[k] + r.race_won[k], 1) << "job " << k << " popped " << r.popped[k]
                                              << " cancelled " << int(r.race_won[k]);
    cancelled += r.race_won[k];
  }
  EXPECT_GT(cancelled, 0);  // the race actually happened
}

TEST(DispatchQueueStress, PromoteRacePopsEachJobOnceInTheRightLane) {
  RaceOutcome r = RunRace(kSpec, [](DispatchQueue& q, int64_t id) { return q.Promote(id); });
  int promoted = 0;
  for (size_t k = 0; k < r.popped.size(); ++k) {
    ASSERT_EQ(r.popped[k], 1) << "job " << k;
    ASSERT_LE(r.race_won[k], 1) << k;
    // A successful promote means the job can only leave through the authoritative lane.
    ASSERT_EQ(r.lane[k], r.race_won[k] ? 0 : 1) << "job " << k;
    promoted += r.race_won[k];
  }
  EXPECT_GT(promoted, 0);
}

TEST(DispatchQueueStress, BlockingConsumersReceiveEverything) {
  constexpr int64_t kPer = 5000;
  DispatchQueue q(32);
  std::vector<std::vector<PoppedJob>> got(2);
  std::vector<std::thread> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&, c] {
      while (q.PopBatch(8, 5.0, &got[c]) > 0) {
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      for (int64_t i = 0; i < kPer; ++i) {
        PushSpinning(q, MakeId(p, i), kAuth);
        if (i % 1000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  for (auto& t : producers) t.join();
  while (q.NumQueued(kAuth) > 0) std::this_thread::yield();
  q.Close();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(got[0].size() + got[1].size(), static_cast<size_t>(2 * kPer));
}

}  // namespace
}  // namespace paste
