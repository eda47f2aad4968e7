// An AXI4 slave memory for the IP's m_axi_gmem port, over a byte array the host shares (mmap).
//
// Structure and timing follow cocotbext-axi's AxiRam (AxiSlaveRead / AxiSlaveWrite) so that,
// with the default latencies and no pauses, the IP sees the same cycles as under cocotb:
//
// * AR, AW and W are sinks with a queue of 2; R and B are sources with a queue of 2.
// * The read process takes one AR at a time and queues its beats as the R queue has room; the
//   write process takes one AW at a time, consumes its W beats as they arrive, and queues the B
//   response after the last beat (blocking while the B queue is full).
// * read_latency: cycles from the edge that accepts an AR to the first edge at which the IP can
//   sample its first R beat; write_latency: cycles from the edge at which a burst's last W beat
//   is consumed to the first edge at which the IP can sample BVALID. Both are at least 2, the
//   latency of AxiRam; a larger value delays each burst's start (reads) or response (writes)
//   without stopping later bursts from queueing behind it.
//
// Supported: INCR, FIXED and WRAP bursts, any AxSIZE up to the bus width, WSTRB byte enables.
// Errors: a beat whose bus word lies outside the memory gets DECERR (read data zero, write
// dropped) and is counted; beats inside an injected range get the injected SLVERR/DECERR
// (likewise). Protocol violations (a burst crossing 4 KiB, AxSIZE wider than the bus, WLAST on
// the wrong beat, a reserved burst type, a bad WRAP length) are counted with a description; the
// burst is still served so the IP does not hang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "axi_stream.h"

namespace cf {

enum AxiResp : std::uint8_t { RESP_OKAY = 0, RESP_EXOKAY = 1, RESP_SLVERR = 2, RESP_DECERR = 3 };
enum AxiBurst : std::uint8_t { BURST_FIXED = 0, BURST_INCR = 1, BURST_WRAP = 2 };

struct AddressBeat {
    std::uint64_t addr;
    std::uint32_t len;    // AxLEN (beats - 1)
    std::uint32_t size;   // AxSIZE (log2 bytes per beat)
    std::uint32_t burst;  // AxBURST
    std::uint32_t id;
    std::uint64_t accepted_at;  // cycle of the edge that accepted it
};

template <std::size_t Lanes>
struct WriteBeat {
    std::uint8_t data[Lanes];
    std::uint64_t strb;
    bool last;
};

template <std::size_t Lanes>
struct ReadBeat {
    std::uint8_t data[Lanes];
    std::uint32_t id;
    std::uint8_t resp;
    bool last;
};

struct WriteResponse {
    std::uint32_t id;
    std::uint8_t resp;
    std::uint64_t due;  // cycle from which it may be queued
};

// An address range answered with an error response.
struct ErrorRange {
    std::uint64_t lo, hi;  // [lo, hi)
    std::uint8_t resp;     // RESP_SLVERR or RESP_DECERR
    bool reads, writes;
};

struct FaultLog {
    std::uint64_t out_of_range = 0;  // beats outside the memory (answered DECERR; bursts described)
    std::uint64_t injected = 0;      // beats answered with an injected error
    std::uint64_t protocol = 0;      // AXI protocol violations by the IP
    std::vector<std::string> messages;  // the first few, for the host

    void note(std::uint64_t& counter, const std::string& text) {
        ++counter;
        if (messages.size() < 8) messages.push_back(text);
    }
};

// Where one beat of a burst lives: the burst's address sequence (AXI4 A3.4.1).
class BurstAddress {
public:
    void start(const AddressBeat& a, std::size_t lanes) {
        bytes_ = std::uint64_t{1} << a.size;
        burst_ = a.burst;
        std::uint64_t beats = std::uint64_t{a.len} + 1;
        addr_ = a.addr / bytes_ * bytes_;
        if (burst_ == BURST_WRAP) {
            std::uint64_t span = bytes_ * beats;
            lower_ = a.addr / span * span;
            upper_ = lower_ + span;
        }
        lanes_ = lanes;
    }
    // The bus word (aligned to the bus width) of the current beat.
    std::uint64_t word() const { return addr_ / lanes_ * lanes_; }
    void advance() {
        if (burst_ == BURST_FIXED) return;
        addr_ += bytes_;
        if (burst_ == BURST_WRAP && addr_ >= upper_) addr_ = lower_;
    }

private:
    std::uint64_t addr_ = 0, bytes_ = 1, lower_ = 0, upper_ = 0;
    std::uint32_t burst_ = BURST_INCR;
    std::size_t lanes_ = 1;
};

template <std::size_t Lanes>
class AxiMemory {
    static_assert(Lanes >= 4 && Lanes <= 64, "data buses of 32 to 512 bits are supported (WSTRB fits 64 bits)");

public:
    struct Settings {
        std::uint8_t* base = nullptr;
        std::uint64_t size = 0;
        unsigned read_latency = 2;
        unsigned write_latency = 2;
        PauseKind pauses = PauseKind::None;
        std::uint64_t seed = 0;
        double stall_probability = 0.3;
    };

    Sink<AddressBeat> aw, ar;
    Sink<WriteBeat<Lanes>> w;
    Source<ReadBeat<Lanes>> r;
    Source<WriteResponse> b;
    FaultLog faults;
    std::vector<ErrorRange> error_ranges;

    explicit AxiMemory(const Settings& s) : s_(s) {
        // One generator per channel, seeded seed + k in the order of sim/accel_server.py.
        aw.pause = PauseGenerator(s.pauses, s.seed + 0, s.stall_probability);
        w.pause = PauseGenerator(s.pauses, s.seed + 1, s.stall_probability);
        b.pause = PauseGenerator(s.pauses, s.seed + 2, s.stall_probability);
        ar.pause = PauseGenerator(s.pauses, s.seed + 3, s.stall_probability);
        r.pause = PauseGenerator(s.pauses, s.seed + 4, s.stall_probability);
    }

    // After the channels' edge(): run the read and write processes for the edge at cycle `now`.
    void process(std::uint64_t now) {
        read_process(now);
        write_process(now);
    }

private:
    void protocol_fault(const char* channel, const AddressBeat& a, const char* what) {
        char text[200];
        std::snprintf(text, sizeof text, "protocol violation: %s burst at 0x%llx (%u beats of %u bytes, burst type %u): %s", channel,
                      static_cast<unsigned long long>(a.addr), a.len + 1, 1u << a.size, a.burst, what);
        faults.note(faults.protocol, text);
    }

    void check_burst(const char* channel, const AddressBeat& a) {
        if ((std::uint64_t{1} << a.size) > Lanes) protocol_fault(channel, a, "AxSIZE is wider than the data bus");
        if (a.burst == 3) protocol_fault(channel, a, "reserved burst type 3");
        if (a.burst == BURST_WRAP && !(a.len == 1 || a.len == 3 || a.len == 7 || a.len == 15))
            protocol_fault(channel, a, "WRAP bursts are 2, 4, 8 or 16 beats");
        if (a.burst == BURST_INCR) {
            std::uint64_t bytes = std::uint64_t{1} << a.size;
            std::uint64_t aligned = a.addr / bytes * bytes;
            if ((aligned & 0xFFF) + bytes * (a.len + 1) > 0x1000) protocol_fault(channel, a, "crosses a 4 KiB boundary");
        }
    }

    // Describes (once per burst, the first few) a burst that reaches outside the memory; its beats
    // there are answered DECERR and counted by access().
    void check_range(const char* channel, const AddressBeat& a) {
        if (faults.messages.size() >= 8) return;
        const std::uint64_t bytes = std::uint64_t{1} << a.size, beats = std::uint64_t{a.len} + 1;
        std::uint64_t first = a.addr / bytes * bytes, span = bytes * beats;
        if (a.burst == BURST_FIXED) span = bytes;
        if (a.burst == BURST_WRAP) first = a.addr / span * span;
        first = first / Lanes * Lanes;  // whole bus words are accessed
        const bool inside = first < s_.size && span <= s_.size - first;
        if (inside) return;
        char text[200];
        std::snprintf(text, sizeof text, "%s burst at 0x%llx (%u beats of %u bytes) reaches outside the %llu-byte "
                      "memory: DECERR", channel, static_cast<unsigned long long>(a.addr), a.len + 1, 1u << a.size,
                      static_cast<unsigned long long>(s_.size));
        faults.messages.push_back(text);
    }

    // The response for the bus word at `word`, counting faults; OKAY means the access may proceed.
    std::uint8_t access(std::uint64_t word, bool is_read) {
        if (word >= s_.size || s_.size - word < Lanes) {
            ++faults.out_of_range;
            return RESP_DECERR;
        }
        for (const ErrorRange& e : error_ranges) {
            if ((is_read ? e.reads : e.writes) && word < e.hi && word + Lanes > e.lo) {
                ++faults.injected;
                return e.resp;
            }
        }
        return RESP_OKAY;
    }

    void read_process(std::uint64_t now) {
        for (;;) {
            if (rd_left_ == 0) {
                if (ar.queue.empty()) return;
                const AddressBeat& a = ar.queue.front();
                check_burst("read", a);
                check_range("read", a);
                rd_addr_.start(a, Lanes);
                rd_left_ = a.len + 1;
                rd_id_ = a.id;
                rd_start_ = a.accepted_at + s_.read_latency - 2;
                ar.queue.pop();
            }
            if (now < rd_start_) return;
            while (rd_left_ != 0 && !r.full()) {
                ReadBeat<Lanes>& beat = r.queue.back_slot();
                std::uint64_t word = rd_addr_.word();
                beat.resp = access(word, true);
                if (beat.resp == RESP_OKAY) {
                    std::memcpy(beat.data, s_.base + word, Lanes);
                } else {
                    std::memset(beat.data, 0, Lanes);
                }
                beat.id = rd_id_;
                beat.last = rd_left_ == 1;
                r.queue.commit();
                rd_addr_.advance();
                --rd_left_;
            }
            if (rd_left_ != 0) return;
        }
    }

    void release_responses(std::uint64_t now) {
        while (!b_delay_.empty() && b_delay_.front().due <= now && !b.full()) {
            b.queue.push(b_delay_.front());
            b_delay_.pop_front();
        }
    }

    void write_process(std::uint64_t now) {
        release_responses(now);
        for (;;) {
            // A due response that found the B queue full blocks the process (as AxiRam's send does).
            if (!b_delay_.empty() && b_delay_.front().due <= now) return;
            if (wr_left_ == 0) {
                if (aw.queue.empty()) return;
                const AddressBeat& a = aw.queue.front();
                check_burst("write", a);
                check_range("write", a);
                wr_addr_.start(a, Lanes);
                wr_left_ = a.len + 1;
                wr_id_ = a.id;
                wr_resp_ = RESP_OKAY;
                wr_burst_ = a;
                aw.queue.pop();
            }
            while (wr_left_ != 0 && !w.queue.empty()) {
                const WriteBeat<Lanes>& beat = w.queue.front();
                std::uint64_t word = wr_addr_.word();
                std::uint8_t resp = access(word, false);
                if (resp == RESP_OKAY) {
                    std::uint8_t* dst = s_.base + word;
                    if ((beat.strb & kAllLanes) == kAllLanes) {
                        std::memcpy(dst, beat.data, Lanes);
                    } else {
                        for (std::size_t i = 0; i < Lanes; ++i)
                            if ((beat.strb >> i) & 1) dst[i] = beat.data[i];
                    }
                } else if (resp > wr_resp_) {
                    wr_resp_ = resp;
                }
                if (beat.last != (wr_left_ == 1))
                    protocol_fault("write", wr_burst_, beat.last ? "WLAST before the last beat" : "no WLAST on the last beat");
                w.queue.pop();
                wr_addr_.advance();
                --wr_left_;
            }
            if (wr_left_ != 0) return;
            b_delay_.push_back(WriteResponse{wr_id_, wr_resp_, now + s_.write_latency - 2});
            release_responses(now);
        }
    }

    static constexpr std::uint64_t kAllLanes = Lanes >= 64 ? ~0ull : (std::uint64_t{1} << Lanes) - 1;

    Settings s_;
    // read process: the burst being served
    BurstAddress rd_addr_;
    std::uint32_t rd_left_ = 0, rd_id_ = 0;
    std::uint64_t rd_start_ = 0;
    // write process
    BurstAddress wr_addr_;
    AddressBeat wr_burst_{};
    std::uint32_t wr_left_ = 0, wr_id_ = 0;
    std::uint8_t wr_resp_ = RESP_OKAY;
    std::deque<WriteResponse> b_delay_;
};

}  // namespace cf
