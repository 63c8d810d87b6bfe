// spsc-ring.h - bounded lock-free single-producer single-consumer ring.
//
// Exactly one thread may call try_push/try_emplace (the producer) and exactly
// one thread may call try_pop (the consumer) at any time; size(), empty() and
// capacity() may be called from any thread. Nothing blocks and nothing
// allocates after construction.
//
// head_ and tail_ are free-running counters (never wrapped); the slot of
// counter i is i & mask_, and tail_ - head_ is the fill level, which stays
// correct across unsigned overflow because the capacity is a power of two.
// So every slot is usable (no "one empty slot" rule).
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace streaminfer {

// GCC warns that the value depends on -mtune; the ring is header-only and its
// layout never crosses a library boundary built with other flags, so that is
// fine here.
#ifdef __cpp_lib_hardware_interference_size
#    if defined(__GNUC__) && !defined(__clang__)
#        pragma GCC diagnostic push
#        pragma GCC diagnostic ignored "-Winterference-size"
#    endif
inline constexpr std::size_t spsc_cache_line = std::hardware_destructive_interference_size;
#    if defined(__GNUC__) && !defined(__clang__)
#        pragma GCC diagnostic pop
#    endif
#else
inline constexpr std::size_t spsc_cache_line = 64;
#endif

template <typename T>
class spsc_ring {
public:
    // capacity is rounded up to the next power of two; 0 is rejected.
    explicit spsc_ring(std::size_t capacity) :
        capacity_(round_up_pow2(capacity)),
        mask_(capacity_ - 1),
        slots_(static_cast<T *>(::operator new(storage_bytes(), std::align_val_t{storage_align}))) {
        static_assert(std::is_nothrow_destructible_v<T>, "spsc_ring<T>: T must be nothrow destructible");
        static_assert(std::atomic<std::size_t>::is_always_lock_free, "spsc_ring needs lock-free size_t atomics");
        static_assert(alignof(spsc_ring) >= spsc_cache_line);
        static_assert(sizeof(spsc_ring) % spsc_cache_line == 0, "neighbours of a ring must not share its lines");
        static_assert(std::is_standard_layout_v<spsc_ring>);
        static_assert(offsetof(spsc_ring, tail_) % spsc_cache_line == 0);
        static_assert(offsetof(spsc_ring, head_) % spsc_cache_line == 0);
        static_assert(offsetof(spsc_ring, head_) - offsetof(spsc_ring, tail_) >= spsc_cache_line,
                      "producer and consumer indices must live on different cache lines");
    }

    ~spsc_ring() {
        // No other thread may use the ring any more, so relaxed loads suffice.
        const std::size_t tail = tail_.load(std::memory_order_relaxed);
        for (std::size_t i = head_.load(std::memory_order_relaxed); i != tail; ++i) {
            slot(i)->~T();
        }
        ::operator delete(slots_, storage_bytes(), std::align_val_t{storage_align});
    }

    spsc_ring(const spsc_ring &) = delete;
    spsc_ring & operator=(const spsc_ring &) = delete;
    spsc_ring(spsc_ring &&) = delete;
    spsc_ring & operator=(spsc_ring &&) = delete;

    // Producer only. Returns false (and constructs nothing) when the ring is
    // full. If T's constructor throws, the ring is unchanged.
    template <typename... Args>
    [[nodiscard]] bool try_emplace(Args &&... args) noexcept(std::is_nothrow_constructible_v<T, Args &&...>) {
        static_assert(std::is_constructible_v<T, Args &&...>, "spsc_ring<T>::try_emplace: T(args...) is ill-formed");
        // relaxed: only this thread writes tail_.
        const std::size_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_cache_ == capacity_) {
            // acquire: pairs with the consumer's release store of head_, so its
            // move-out and destruction of the slot we are about to reuse
            // happen-before our construction in it.
            head_cache_ = head_.load(std::memory_order_acquire);
            if (tail - head_cache_ == capacity_) {
                return false;
            }
        }
        ::new (static_cast<void *>(slot(tail))) T(std::forward<Args>(args)...);
        // release: publishes the constructed element to the consumer's acquire
        // load of tail_.
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    [[nodiscard]] bool try_push(const T & v) noexcept(std::is_nothrow_copy_constructible_v<T>) { return try_emplace(v); }
    [[nodiscard]] bool try_push(T && v) noexcept(std::is_nothrow_move_constructible_v<T>) { return try_emplace(std::move(v)); }

    // Consumer only. Moves the oldest element into out and destroys it in the
    // ring; returns false when empty. If the move assignment throws, the
    // element stays in the ring.
    [[nodiscard]] bool try_pop(T & out) noexcept(std::is_nothrow_move_assignable_v<T>) {
        // relaxed: only this thread writes head_.
        const std::size_t head = head_.load(std::memory_order_relaxed);
        if (head == tail_cache_) {
            // acquire: pairs with the producer's release store of tail_, so the
            // element's construction happens-before our read of it.
            tail_cache_ = tail_.load(std::memory_order_acquire);
            if (head == tail_cache_) {
                return false;
            }
        }
        T * elem = slot(head);
        out = std::move(*elem);
        elem->~T();
        // release: our read and destruction of the slot happen-before the
        // producer (acquire load of head_) constructs into it again.
        head_.store(head + 1, std::memory_order_release);
        return true;
    }

    // Any thread. Exact when called by the producer or the consumer with the
    // other side idle; otherwise a snapshot that may already be stale.
    std::size_t size() const noexcept {
        // head_ first: the consumer only ever stores a head it saw tail_ reach,
        // and acquire makes that tail_ value visible here, so tail >= head.
        const std::size_t head = head_.load(std::memory_order_acquire);
        const std::size_t tail = tail_.load(std::memory_order_acquire);
        const std::size_t n    = tail - head;
        return n < capacity_ ? n : capacity_;  // head may be older than tail by more than a lap
    }

    bool empty() const noexcept { return size() == 0; }

    std::size_t capacity() const noexcept { return capacity_; }

private:
    static constexpr std::size_t storage_align = alignof(T) > spsc_cache_line ? alignof(T) : spsc_cache_line;

    static std::size_t round_up_pow2(std::size_t n) {
        // Bound: the rounded-up count p < 2n, so p * sizeof(T) cannot overflow.
        if (n == 0 || n > (std::size_t(-1) / 2 + 1) / sizeof(T)) {
            throw std::invalid_argument("spsc_ring: capacity must be at least 1 and fit in memory");
        }
        std::size_t p = 1;
        while (p < n) {
            p <<= 1;
        }
        return p;
    }

    // Whole cache lines, so no other allocation shares a line with a slot.
    std::size_t storage_bytes() const noexcept {
        return (capacity_ * sizeof(T) + storage_align - 1) / storage_align * storage_align;
    }

    T * slot(std::size_t i) const noexcept { return slots_ + (i & mask_); }

    // Read-only after construction: shared by both sides without contention.
    alignas(spsc_cache_line) const std::size_t capacity_;
    const std::size_t mask_;
    T * const slots_;  // [capacity_] raw storage; live elements are [head_, tail_)

    // Producer's line.
    alignas(spsc_cache_line) std::atomic<std::size_t> tail_{0};  // next slot to fill; producer writes, consumer reads
    std::size_t head_cache_ = 0;  // producer only: last head_ seen; refreshed only when the ring looks full

    // Consumer's line.
    alignas(spsc_cache_line) std::atomic<std::size_t> head_{0};  // next slot to drain; consumer writes, producer reads
    std::size_t tail_cache_ = 0;  // consumer only: last tail_ seen; refreshed only when the ring looks empty
};

}  // namespace streaminfer
