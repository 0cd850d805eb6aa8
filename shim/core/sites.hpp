// Call sites: sampled allocation stacks, deduplicated, with what their blocks weigh. Sampling
// is Poisson by bytes (tcmalloc's scheme): each allocated byte is sampled with probability
// 1/mean, so a block of s bytes is sampled with p = 1 - exp(-s/mean) and then stands for s/p
// bytes and 1/p blocks — unbiased whatever the sizes. mean = 1 samples every allocation.
//
// Only the sampling path (rare: behind one unlikely branch in the hooks) takes lock_; the map
// of sampled blocks (address → site) is a LiveTable of its own, whose `size` field holds the
// site id, so frees of sampled blocks find their site without a lock of ours.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "live_table.hpp"
#include "os_memory.hpp"
#include "spinlock.hpp"

namespace fragscope::core {

class SiteTable {
 public:
  static constexpr unsigned kMaxFrames = 48;
  static constexpr unsigned kMaxSites = 1u << 16;

  struct Site {
    std::uint32_t nframes;
    std::uint32_t first_frame;  // index into frames_
    std::uint64_t hash;
    // Weighted figures (estimates of the true ones).
    double allocs, alloc_bytes, frees, free_bytes;
    std::uint64_t samples;  // sampled allocations, unweighted
  };

  /// Requires: called before use; false if our memory cannot be mapped.
  bool init(std::uint64_t mean_bytes) noexcept;
  std::uint64_t mean() const noexcept { return mean_; }
  /// Sampled mode: only blocks of the sampled regions are offered for sampling, so each sample
  /// stands for `k` = 1/π times more. Before any sample is taken.
  void set_scale(double k) noexcept { scale_ = k; }
  bool enabled() const noexcept { return mean_ != 0 && sites_ != nullptr; }

  /// Draws the bytes until the next sample (exponential with mean `mean`), from `rng` state.
  std::int64_t next_countdown(std::uint64_t& rng) const noexcept;
  /// The site of this stack (1-based id), created if new; 0 when full. Thread-safe.
  std::uint32_t intern(void* const* frames, unsigned n) noexcept;
  /// Records a sampled live block `addr` of `size` bytes from `site`. Thread-safe.
  void on_alloc(std::uintptr_t addr, std::uint64_t size, std::uint32_t site) noexcept;
  /// A sampled block is freed (or replaced). Thread-safe.
  void on_free(std::uintptr_t addr, std::uint64_t size) noexcept;
  /// The site of a live sampled block, or 0.
  std::uint32_t site_of(std::uintptr_t addr) noexcept;
  /// How many blocks a sampled block of `size` bytes stands for (1/p).
  double weight_of(std::uint64_t size) const noexcept {
    double nb, nbytes;
    weigh(size, &nb, &nbytes);
    return nb;
  }

  /// Copies the site records (under the lock) for the reporter; returns how many.
  std::size_t snapshot(Site* out, std::size_t cap) noexcept;
  void* const* frames(const Site& s) const noexcept { return frames_ + s.first_frame; }
  std::size_t memory_bytes() const noexcept;
  /// One more than the highest site id so far. Thread-safe.
  std::uint32_t id_bound() noexcept {
    LockGuard g(lock_);
    return nsites_;
  }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  void lock_all() noexcept {  // fork
    lock_.lock();
    blocks_.lock_all();
  }
  void unlock_all() noexcept {
    blocks_.unlock_all();
    lock_.unlock();
  }

 private:
  void weigh(std::uint64_t size, double* blocks, double* bytes) const noexcept;

  std::uint64_t mean_ = 0;
  double scale_ = 1;
  SpinLock lock_;
  Site* sites_ = nullptr;          // guarded by lock_; [1, nsites_)
  std::uint32_t* index_ = nullptr; // open addressing over stack hashes: site ids, 0 = empty
  void** frames_ = nullptr;        // append-only frame storage
  std::uint32_t nsites_ = 1, nframes_ = 0;
  std::atomic<std::uint64_t> dropped_{0};
  LiveTable blocks_;  // sampled block → site id (in Block::size)
};

}  // namespace fragscope::core
