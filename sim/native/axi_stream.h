// Valid/ready channel endpoints with the cycle behaviour of cocotbext-axi's StreamSource and
// StreamSink, so that the native harness and the cocotb server (sim/accel_server.py) present the
// same timing to the IP when no pauses are configured.
//
// Timing model (one call of edge() per rising clock edge, with the signals sampled just before
// the edge):
//
// * Sink (the harness drives READY): a beat is taken when READY and VALID were both high before
//   the edge; READY for the next cycle is low while the sink's queue holds `limit` items or the
//   pause generator says so.
// * Source (the harness drives VALID and the payload): when the current beat was taken (READY
//   high) or nothing is offered, the next queued item is driven, unless paused; with an empty
//   queue VALID goes low.
//
// Items put into a queue after an edge (by the memory or AXI-Lite processes) are driven at the
// next edge at the earliest, as in cocotb where the processes run after the edge callbacks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cf {

// A fixed-capacity FIFO; the caller checks size() before push().
template <class T, std::size_t Capacity>
class Ring {
    static_assert(Capacity > 0 && (Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");

public:
    bool empty() const { return count_ == 0; }
    std::size_t size() const { return count_; }
    T& back_slot() { return items_[(head_ + count_) & (Capacity - 1)]; }
    // Commits the slot filled through back_slot().
    void commit() { ++count_; }
    void push(const T& item) {
        back_slot() = item;
        commit();
    }
    T& front() { return items_[head_]; }
    void pop() {
        head_ = (head_ + 1) & (Capacity - 1);
        --count_;
    }
    void clear() { head_ = count_ = 0; }

private:
    T items_[Capacity];
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

enum class PauseKind { None, Fixed, Random };

// One pause decision per clock edge: "fixed" repeats the pattern of sim/accel_server.py
// (0,0,1,0,1,1,0,0,0,1), "random" pauses with a given probability from a seeded generator.
class PauseGenerator {
public:
    PauseGenerator() = default;
    PauseGenerator(PauseKind kind, std::uint64_t seed, double probability) : kind_(kind) {
        state_ = seed * 0x9E3779B97F4A7C15ull + 0xD1B54A32D192ED03ull;
        if (probability <= 0.0) {
            threshold_ = 0;
        } else if (probability >= 1.0) {
            threshold_ = ~0ull;
        } else {
            threshold_ = static_cast<std::uint64_t>(probability * 18446744073709551616.0);
        }
    }

    bool next() {
        switch (kind_) {
        case PauseKind::None:
            return false;
        case PauseKind::Fixed: {
            static constexpr bool pattern[10] = {false, false, true, false, true, true, false, false, false, true};
            bool value = pattern[index_];
            index_ = index_ == 9 ? 0 : index_ + 1;
            return value;
        }
        case PauseKind::Random:
            return random64() < threshold_;
        }
        return false;
    }

private:
    // splitmix64: small, fast and well distributed for a stall pattern.
    std::uint64_t random64() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    PauseKind kind_ = PauseKind::None;
    std::uint64_t state_ = 0;
    std::uint64_t threshold_ = 0;
    unsigned index_ = 0;
};

// The harness drives READY; `limit` is the queue occupancy at which READY drops (2 in cocotbext-axi).
template <class T, std::size_t Capacity = 4>
struct Sink {
    Ring<T, Capacity> queue;
    std::size_t limit = 2;
    bool ready = false;
    PauseGenerator pause;

    // True when a beat is taken at the coming edge (call before the edge with the sampled VALID).
    bool takes(bool valid) const { return ready && valid; }

    // At the edge: `taken` says whether takes() was true; the beat was written to
    // queue.back_slot() before the edge. The queue never holds more than `limit` < Capacity items,
    // so back_slot() is always a free slot: the harness samples every offered beat into it (for
    // the memory's handshake rules) and only a taken one is committed.
    void edge(bool taken) {
        if (taken) queue.commit();
        bool paused = pause.next();
        ready = !(queue.size() >= limit || paused);
    }
};

// The harness drives VALID and `current`; `limit` bounds what producers may queue (2 in cocotbext-axi).
template <class T, std::size_t Capacity = 4>
struct Source {
    Ring<T, Capacity> queue;
    std::size_t limit = 2;
    bool valid = false;
    T current{};
    PauseGenerator pause;

    bool full() const { return queue.size() >= limit; }

    // At the edge, with the READY the other side drove before it. Returns true when a new item
    // was put on the bus (the payload pins need updating).
    bool edge(bool ready) {
        bool paused = pause.next();
        if (valid && !ready) return false;
        if (!queue.empty() && !paused) {
            current = queue.front();
            queue.pop();
            valid = true;
            return true;
        }
        valid = false;
        return false;
    }
};

}  // namespace cf
