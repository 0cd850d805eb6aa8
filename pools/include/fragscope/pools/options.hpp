// Options and statistics shared by every pool kind, and the chunk source pools get memory from.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace fragscope::pools {

// Where a pool's chunks come from. Chunks are `bytes` long and aligned to `alignment` (both
// powers of two, alignment ≤ bytes). The default maps them from the OS and unmaps them when the
// pool gives them back; tests substitute a checking source.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Returns a chunk, or nullptr when no memory is available. Never throws.
  virtual void* allocate_chunk(std::size_t bytes, std::size_t alignment) noexcept = 0;
  // Takes back a chunk returned by allocate_chunk with the same bytes and alignment.
  virtual void deallocate_chunk(void* chunk, std::size_t bytes, std::size_t alignment) noexcept = 0;
  // Takes back n chunks at once (a pool's batched release; see PoolOptions::release_batch). By
  // default one deallocate_chunk each; the OS source unmaps each run of adjacent chunks at once.
  virtual void deallocate_chunks(void* const* chunks, std::size_t n, std::size_t bytes,
                                 std::size_t alignment) noexcept {
    for (std::size_t i = 0; i < n; ++i) deallocate_chunk(chunks[i], bytes, alignment);
  }
};

// The process-wide source that maps chunks with mmap (never written before first use) and
// unmaps them on return. Thread-safe.
ChunkSource& os_chunk_source() noexcept;

// Consistency faults a pool detects in debug mode (and an unowned pointer in any mode).
enum class PoolError {
  double_free,       // the slot is already free
  foreign_pointer,   // not a slot of this pool (another pool's, malloc's, or misaligned)
  write_after_free,  // the poison pattern of a freed slot changed before it was reused
  live_at_destroy,   // ObjectPool with the `check` policy destroyed with objects still live
};
const char* to_string(PoolError error) noexcept;

// Called on a fault with the pool's name and the pointer. The default prints one line on stderr
// and aborts. A handler that returns lets the pool go on: the faulty call is ignored.
using ErrorHandler = void (*)(PoolError error, const void* pointer, const char* pool_name);
// Installs a process-wide handler (nullptr restores the default); returns the previous one.
// Thread-safe.
ErrorHandler set_error_handler(ErrorHandler handler) noexcept;

#ifdef NDEBUG
inline constexpr bool kDebugByDefault = false;
#else
inline constexpr bool kDebugByDefault = true;
#endif

struct PoolOptions {
  // Bytes per chunk, a power of two ≥ 4096. A pool raises it when fewer than 8 slots would fit.
  std::size_t chunk_size = 64 * 1024;
  // Empty chunks kept for reuse; beyond this an emptied chunk goes back to its source at once
  // (trim() returns them all). Enough that a pool whose use rises and falls by a few chunks does
  // not map and unmap them each time.
  std::size_t max_empty_chunks = 4;
  // Empty chunks beyond max_empty_chunks go back to the source `release_batch` at a time (1 to
  // 64): the OS source unmaps each run of adjacent chunks with one munmap, and the kernel's cost
  // is mostly per call (bench/README.md, "The second round", 5.). So up to
  // release_batch − 1 empty chunks beyond the cache wait for the rest of their batch, still
  // reusable; trim() returns them all. 1 returns each chunk as soon as it empties.
  std::size_t release_batch = 16;
  // Debug checks: double free, foreign pointer, poisoning of freed slots (checked on reuse),
  // Valgrind mempool annotations. Costs a branch per call, and every freed slot is written (its
  // poison) and kept on its chunk's free list instead of being parked in the chunk's bitmap.
  bool debug = kDebugByDefault;
  // Shown in error messages and in fragscope's snapshots. The string must outlive the pool.
  const char* name = nullptr;
  // Where chunks come from; nullptr means os_chunk_source().
  ChunkSource* source = nullptr;
  // Show the pool's counters in fragscope's snapshots when libfragscope.so is preloaded.
  bool publish = true;
};

// A pool's counters. Invariant per chunk: live + free slots + never-used slots = capacity.
struct PoolStats {
  std::size_t slot_size = 0;       // bytes asked for per slot
  std::size_t stride = 0;          // bytes per slot in the chunk (slot size rounded to alignment)
  std::size_t alignment = 0;
  std::size_t chunk_size = 0;
  std::size_t live = 0;            // slots handed out and not returned
  std::size_t peak = 0;            // highest `live` so far
  std::size_t chunks = 0;          // chunks held, empty ones included
  std::size_t empty_chunks = 0;    // chunks with no live slot, kept for reuse
  std::size_t committed_bytes = 0; // chunks × chunk_size
  // Chunks by occupancy (live / capacity): [0] exactly empty, [1..8] up to 1/8, 2/8, ..., 8/8.
  std::array<std::size_t, 9> chunk_occupancy{};
  // 1 − live·stride / committed: the share of the pool's memory not holding a live slot.
  double fragmentation() const noexcept {
    return committed_bytes == 0 ? 0.0
                                : 1.0 - static_cast<double>(live * stride) /
                                            static_cast<double>(committed_bytes);
  }
};

}  // namespace fragscope::pools
