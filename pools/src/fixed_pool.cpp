// FixedPool's rare paths: chunk changes, emptied chunks, debug checks, stats.
#include "fragscope/pools/fixed_pool.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>

#include "fragscope/pools/bridge.h"
#include "fragscope/pools/detail/errors.hpp"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define FRAGSCOPE_POOLS_VALGRIND 1
#endif

namespace fragscope::pools {
namespace {

// Where a pool without chunks points current_: no free slot, bump == end.
detail::ChunkHeader g_exhausted{};

constexpr unsigned char kPoison = 0xDF;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Reads the free-list link of a freed slot, which ASan and Valgrind see as inaccessible.
void* read_link(void* slot, std::size_t stride, bool debug) noexcept {
  detail::asan_unpoison(slot, sizeof(void*));
#ifdef FRAGSCOPE_POOLS_VALGRIND
  if (debug) VALGRIND_MAKE_MEM_DEFINED(slot, sizeof(void*));
#endif
  void* next = *static_cast<void**>(slot);
  detail::asan_poison(slot, stride);
#ifdef FRAGSCOPE_POOLS_VALGRIND
  if (debug) VALGRIND_MAKE_MEM_NOACCESS(slot, stride);
#endif
  (void)debug;
  return next;
}

// The shim's reporter calls this from its own thread: atomics and constants only.
void report_to_shim(const void* pool, fragscope_pool_report* out) {
  const auto& p = *static_cast<const FixedPool*>(pool);
  out->name = p.name();
  out->slot_size = p.slot_size();
  out->stride = p.stride();
  out->chunk_size = p.chunk_size();
  out->live = p.live();
  out->peak = p.peak();
  out->chunks = p.chunk_count();
}

}  // namespace

FixedPool::FixedPool(std::size_t slot_size, std::size_t alignment, PoolOptions options)
    : current_(&g_exhausted),
      debug_(options.debug),
      release_batch_(static_cast<std::uint32_t>(std::clamp<std::size_t>(options.release_batch, 1, 64))),
      slot_size_(slot_size),
      max_empty_(options.max_empty_chunks),
      name_(options.name),
      source_(options.source != nullptr ? options.source : &os_chunk_source()) {
  if (slot_size == 0) throw std::invalid_argument("fragscope::pools::FixedPool: slot size 0");
  if (!std::has_single_bit(alignment)) {
    throw std::invalid_argument("fragscope::pools::FixedPool: alignment must be a power of two");
  }
  if (!std::has_single_bit(options.chunk_size) || options.chunk_size < 4096) {
    throw std::invalid_argument("fragscope::pools::FixedPool: chunk size must be a power of two >= 4096");
  }
  alignment_ = alignment < alignof(void*) ? alignof(void*) : alignment;
  stride_ = round_up(slot_size < sizeof(void*) ? sizeof(void*) : slot_size, alignment_);
  chunk_size_ = options.chunk_size;
  for (;;) {
    // Room for the header at any of its colours (see chunk_of), and the slot bitmap after it.
    const std::size_t colours = std::min<std::size_t>(chunk_size_ / 4096, 16);
    colour_mask_ = colours - 1;
    const std::size_t header_room = (colours - 1) * 64 + sizeof(detail::ChunkHeader);
    const std::size_t most_slots = chunk_size_ > header_room ? (chunk_size_ - header_room) / stride_ : 0;
    slots_offset_ = round_up(header_room + (most_slots + 63) / 64 * sizeof(std::uint64_t), alignment_);
    if (slots_offset_ + 8 * stride_ <= chunk_size_) break;
    if (chunk_size_ >= (std::size_t{1} << 40)) {
      throw std::invalid_argument("fragscope::pools::FixedPool: slot size or alignment too large");
    }
    chunk_size_ *= 2;
  }
  chunk_shift_ = static_cast<unsigned>(std::countr_zero(chunk_size_));
  capacity_ = (chunk_size_ - slots_offset_) / stride_;
  if (capacity_ > UINT32_MAX) capacity_ = UINT32_MAX;
  stride_shift_ = static_cast<unsigned>(std::countr_zero(stride_));
  const std::size_t odd = stride_ >> stride_shift_;
  stride_inverse_ = odd;  // correct to 3 bits (odd² ≡ 1 mod 8); each Newton step doubles that
  for (int i = 0; i < 5; ++i) stride_inverse_ *= 2 - odd * stride_inverse_;
#ifdef FRAGSCOPE_POOLS_VALGRIND
  if (debug_) VALGRIND_CREATE_MEMPOOL(this, 0, 0);
#endif
  if (options.publish && fragscope_pool_register != nullptr) {
    published_ = fragscope_pool_register(FRAGSCOPE_POOL_BRIDGE_VERSION, this, &report_to_shim) == 0;
  }
}

FixedPool::~FixedPool() {
  if (published_ && fragscope_pool_unregister != nullptr) fragscope_pool_unregister(this);
  while (all_ != nullptr) release_chunk(all_);
#ifdef FRAGSCOPE_POOLS_VALGRIND
  if (debug_) VALGRIND_DESTROY_MEMPOOL(this);
#endif
}

void FixedPool::list_push(detail::ChunkHeader*& head, detail::ChunkHeader* c) noexcept {
  c->prev = nullptr;
  c->next = head;
  if (head != nullptr) head->prev = c;
  head = c;
}

void FixedPool::list_remove(detail::ChunkHeader*& head, detail::ChunkHeader* c) noexcept {
  if (c->prev != nullptr) c->prev->next = c->next;
  else head = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
}

detail::ChunkHeader* FixedPool::new_chunk() noexcept {
  void* memory = source_->allocate_chunk(chunk_size_, chunk_size_);
  if (memory == nullptr) return nullptr;
  try {
    chunk_set_.insert(reinterpret_cast<std::uintptr_t>(memory));
  } catch (...) {
    source_->deallocate_chunk(memory, chunk_size_, chunk_size_);
    return nullptr;
  }
  auto* c = new (chunk_of(memory)) detail::ChunkHeader{};
  // The bitmap follows the header (coloured with it). A source need not give zeroed memory.
  std::memset(c->bits(), 0, bitmap_words() * sizeof(std::uint64_t));
  c->slots = static_cast<char*>(memory) + slots_offset_;
  c->bump = c->slots;
  c->end = c->slots + capacity_ * stride_;
  c->owner = this;
  c->all_next = all_;
  if (all_ != nullptr) all_->all_prev = c;
  all_ = c;
  chunks_.store(chunks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return c;
}

void FixedPool::release_chunk(detail::ChunkHeader* c) noexcept {
  void* const memory = detach_chunk(c);
  source_->deallocate_chunk(memory, chunk_size_, chunk_size_);
}

// Everything of releasing a chunk but handing it to the source. Returns the chunk's start.
void* FixedPool::detach_chunk(detail::ChunkHeader* c) noexcept {
  if (c->all_prev != nullptr) c->all_prev->all_next = c->all_next;
  else all_ = c->all_next;
  if (c->all_next != nullptr) c->all_next->all_prev = c->all_prev;
  void* const memory = chunk_base(c);
  chunk_set_.erase(reinterpret_cast<std::uintptr_t>(memory));
  if (current_ == c) set_current(&g_exhausted);
  chunks_.store(chunks_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  // The slots may be poisoned for ASan; the chunk leaves our hands clean.
  detail::asan_unpoison(memory, chunk_size_);
  return memory;
}

// Moves the current chunk's next non-zero bitmap word to c->word, from which allocate_plain hands
// out its slots without writing to them first.
void FixedPool::refill_from_bits(detail::ChunkHeader* c) noexcept {
  std::uint32_t w = c->scan;
  std::uint64_t* const bits = c->bits();
  while (bits[w] == 0) ++w;  // some slot is parked: some word at or above scan is not zero
  c->word = bits[w];
  c->word_base = c->slots + std::size_t{w} * 64 * stride_;
  bits[w] = 0;
  c->scan = w + 1;
}

void* FixedPool::allocate_slow() noexcept {
  // The current chunk has no free-list slot, no word and no bump room left: every slot that is
  // not live is parked.
  if (!debug_ && current_ != &g_exhausted && current_live() < capacity_) {
    refill_from_bits(current_);
    return allocate_plain();
  }
  if (current_ != &g_exhausted) {
    current_->state = detail::kFull;  // no free list, no parked slot, no bump room
    current_->scan = 0;               // bits may be set anywhere from now on
  }
  detail::ChunkHeader* c = nullptr;
  if (available_ != nullptr) {
    c = available_;
    list_remove(available_, c);
  } else if (empty_ != nullptr) {
    c = empty_;
    list_remove(empty_, c);
    --empty_count_;
  } else {
    c = new_chunk();
    if (c == nullptr) {
      set_current(&g_exhausted);
      return nullptr;
    }
  }
  c->state = detail::kCurrent;
  set_current(c);
  return allocate_plain();
}

void FixedPool::make_empty(detail::ChunkHeader* c) noexcept {
  if (release_batch_ == 1 && empty_count_ >= max_empty_) {
    release_chunk(c);  // not worth starting it over
    return;
  }
  // Start the chunk over: every slot is free, so hand them out from the bump pointer again.
  c->free = nullptr;
  c->bump = c->slots;
  // No slot is parked any more (in debug mode, none is live: the bitmap is already clear).
  std::memset(c->bits(), 0, bitmap_words() * sizeof(std::uint64_t));
  c->scan = 0;
  c->word = 0;
  detail::asan_unpoison(c->slots, static_cast<std::size_t>(c->end - c->slots));
  c->state = detail::kEmpty;
  list_push(empty_, c);
  ++empty_count_;
  if (empty_count_ >= release_batch_ && empty_count_ - release_batch_ >= max_empty_) release_empty(release_batch_);
}

// Gives up to n empty chunks back to the source in one call (the most recently emptied first:
// the cache keeps the others). Returns the bytes given back.
std::size_t FixedPool::release_empty(std::size_t n) noexcept {
  constexpr std::size_t kMax = 64;
  void* bases[kMax];
  std::size_t k = 0;
  while (k < n && k < kMax && empty_ != nullptr) {
    detail::ChunkHeader* c = empty_;
    list_remove(empty_, c);
    --empty_count_;
    bases[k++] = detach_chunk(c);
  }
  if (k != 0) source_->deallocate_chunks(bases, k, chunk_size_, chunk_size_);
  return k * chunk_size_;
}

// Debug mode's free: every slot goes on its chunk's free list, where allocate_debug checks its
// poison when it is handed out again.
void FixedPool::deallocate_listed(void* p) noexcept {
  detail::ChunkHeader* c = chunk_of(p);
  *static_cast<void**>(p) = c->free;
  c->free = p;
  detail::asan_poison(p, stride_);
  live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  if (c == current_) return;
  --others_live_;
  if (--c->live == 0 || c->state == detail::kFull) deallocate_slow(c);
}

void FixedPool::deallocate_slow(detail::ChunkHeader* c) noexcept {
  if (c == current_) return;  // keep allocating from it, empty or not
  if (c->state == detail::kFull) {
    if (c->live == 0) {
      make_empty(c);
      return;
    }
    c->state = detail::kAvailable;
    list_push(available_, c);
    return;
  }
  // An available chunk whose last live slot was just freed.
  list_remove(available_, c);
  make_empty(c);
}

void* FixedPool::allocate_debug() noexcept {
  void* from_list = current_->free;
#ifdef FRAGSCOPE_POOLS_VALGRIND
  if (from_list != nullptr) VALGRIND_MAKE_MEM_DEFINED(from_list, stride_);
#endif
  void* p = allocate_plain();
  if (p == nullptr) return nullptr;
  detail::ChunkHeader* c = chunk_of(p);
  const std::size_t index = static_cast<std::size_t>(static_cast<char*>(p) - c->slots) / stride_;
  if (p == from_list) {
    const auto* bytes = static_cast<const unsigned char*>(p);
    for (std::size_t i = sizeof(void*); i < stride_; ++i) {
      if (bytes[i] != kPoison) {
        detail::report_error(PoolError::write_after_free, p, name_);
        break;
      }
    }
  }
  c->bits()[index / 64] |= std::uint64_t{1} << (index % 64);
#ifdef FRAGSCOPE_POOLS_VALGRIND
  VALGRIND_MEMPOOL_ALLOC(this, p, slot_size_);
#endif
  return p;
}

void FixedPool::deallocate_debug(void* p) noexcept {
  const auto base = reinterpret_cast<std::uintptr_t>(p) & ~(chunk_size_ - 1);
  if (chunk_set_.count(base) == 0) {
    detail::report_error(PoolError::foreign_pointer, p, name_);
    return;
  }
  detail::ChunkHeader* c = chunk_of(p);
  auto* slot = static_cast<char*>(p);
  if (slot < c->slots || slot >= c->bump || static_cast<std::size_t>(slot - c->slots) % stride_ != 0) {
    detail::report_error(PoolError::foreign_pointer, p, name_);
    return;
  }
  const std::size_t index = static_cast<std::size_t>(slot - c->slots) / stride_;
  std::uint64_t& word = c->bits()[index / 64];
  const std::uint64_t bit = std::uint64_t{1} << (index % 64);
  if ((word & bit) == 0) {
    detail::report_error(PoolError::double_free, p, name_);
    return;
  }
  word &= ~bit;
  std::memset(slot + sizeof(void*), kPoison, stride_ - sizeof(void*));
  deallocate_listed(p);
#ifdef FRAGSCOPE_POOLS_VALGRIND
  VALGRIND_MEMPOOL_FREE(this, p);
#endif
}

bool FixedPool::owns(const void* p) const noexcept {
  const auto base = reinterpret_cast<std::uintptr_t>(p) & ~(chunk_size_ - 1);
  if (chunk_set_.count(base) == 0) return false;
  const detail::ChunkHeader* c = chunk_of(p);
  const auto* slot = static_cast<const char*>(p);
  return slot >= c->slots && slot < c->end && static_cast<std::size_t>(slot - c->slots) % stride_ == 0;
}

std::size_t FixedPool::trim() noexcept {
  std::size_t released = 0;
  while (empty_ != nullptr) released += release_empty(SIZE_MAX);
  if (current_ != &g_exhausted && current_live() == 0) {
    release_chunk(current_);  // resets current_ to the sentinel
    released += chunk_size_;
  }
  return released;
}

PoolStats FixedPool::stats() const noexcept {
  PoolStats s;
  s.slot_size = slot_size_;
  s.stride = stride_;
  s.alignment = alignment_;
  s.chunk_size = chunk_size_;
  s.live = live_.load(std::memory_order_relaxed);
  s.peak = peak_.load(std::memory_order_relaxed);
  s.empty_chunks = empty_count_;
  for (const detail::ChunkHeader* c = all_; c != nullptr; c = c->all_next) {
    ++s.chunks;
    const std::size_t live = chunk_live(c);
    const std::size_t bucket = live == 0 ? 0 : (live * 8 + capacity_ - 1) / capacity_;
    ++s.chunk_occupancy[bucket];
  }
  s.committed_bytes = s.chunks * chunk_size_;
  return s;
}

void FixedPool::free_slot_bitmap(const detail::ChunkHeader* c, std::uint64_t* bits) const noexcept {
  if (!debug_) std::memcpy(bits, c->bits(), bitmap_words() * sizeof(std::uint64_t));
  else std::memset(bits, 0, bitmap_words() * sizeof(std::uint64_t));
  if (c->word != 0) bits[static_cast<std::size_t>(c->word_base - c->slots) / stride_ / 64] |= c->word;
  for (void* p = c->free; p != nullptr; p = read_link(p, stride_, debug_)) {
    const std::size_t index = static_cast<std::size_t>(static_cast<char*>(p) - c->slots) / stride_;
    bits[index / 64] |= std::uint64_t{1} << (index % 64);
  }
}

}  // namespace fragscope::pools
