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
// (likewise). Protocol violations are counted with a description (FaultLog); the burst is still
// served so the IP does not hang. Checked always: a burst crossing 4 KiB, AxSIZE wider than the
// bus, WLAST on the wrong beat, a reserved burst type, a bad WRAP length. Checked when the master
// reports what it drives before each edge (watch_ar/aw/w/r; the harness does, with the rules of
// sim/axi_monitor.py's AxiChecker for the IP's memory port):
//
// * A3.2.1 handshake: once ARVALID, AWVALID or WVALID is high it stays high until the handshake,
//   and the channel's payload (AR/AW: addr, len, size, burst, id; W: data, strb, last) does not
//   change until then (HandshakeRule);
// * Settings::incr_only: every AR/AW burst is INCR;
// * Settings::max_outstanding_reads (0: no limit): ARs accepted minus R bursts whose RLAST beat
//   the master took never exceed it (counted at the AR handshake, before a same-edge RLAST).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "axi_stream.h"

#if defined(__GNUC__)
#define CF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CF_COLD __attribute__((noinline, cold))
#else
#define CF_UNLIKELY(x) (x)
#define CF_COLD
#endif

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

// The payload members a master must hold from VALID to the handshake (A3.2.1); not accepted_at.
inline bool same_payload(const AddressBeat& a, const AddressBeat& b) {
    return a.addr == b.addr && a.len == b.len && a.size == b.size && a.burst == b.burst && a.id == b.id;
}

template <std::size_t Lanes>
inline bool same_payload(const WriteBeat<Lanes>& a, const WriteBeat<Lanes>& b) {
    return a.strb == b.strb && a.last == b.last && std::memcmp(a.data, b.data, Lanes) == 0;
}

// A3.2.1 on one master-driven channel: once VALID is high it stays high, with the same payload,
// until the beat is taken. Call step() once per cycle, before the edge, with the VALID the master
// drives, its payload (read only when VALID is high) and whether the beat is taken at that edge;
// while a beat is pending it compares the payload with the one remembered from the previous
// cycle and calls fault(outcome, remembered payload) when VALID dropped or the payload changed.
// Cost: a test when no beat was pending; a comparison while one waits (the payload is copied
// only when a beat starts waiting or changed).
template <class T>
class HandshakeRule {
public:
    enum Outcome { kDropped, kChanged };

    template <class OnFault>
    void step(bool valid, const T& payload, bool taken, OnFault&& fault) {
        bool same = false;
        if (CF_UNLIKELY(pending_)) {
            if (!valid) fault(kDropped, held_);
            else if (same_payload(payload, held_)) same = true;
            else fault(kChanged, held_);
        }
        pending_ = valid && !taken;
        if (pending_ && !same) held_ = payload;
    }
    // True while a beat is offered and not yet taken.
    bool pending() const { return pending_; }
    const T& held() const { return held_; }

private:
    bool pending_ = false;
    T held_{};
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
        // Master-side rules (checked through watch_ar/aw/w/r): only INCR bursts, and at most this
        // many read bursts in flight (0: no limit).
        bool incr_only = false;
        unsigned max_outstanding_reads = 0;
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

    // Before each edge (before the channels' edge()), what the master drives: VALID, the payload
    // (read only when VALID is high) and whether the beat is taken at this edge (sink.takes()).
    // Call watch_ar before watch_r (an AR and a burst's RLAST at the same edge count both, as
    // AxiChecker does). The common case (no beat waiting, or the same payload) is a few tests.
    void watch_ar(bool valid, const AddressBeat& a, bool taken) {
        ar_rule_.step(valid, a, taken, [&](auto outcome, const AddressBeat& was) { address_fault("AR", outcome, was, a); });
        if (taken) {
            ++reads_in_flight_;
            if (CF_UNLIKELY(s_.max_outstanding_reads != 0 && reads_in_flight_ > s_.max_outstanding_reads))
                outstanding_fault(a);
        }
    }
    void watch_aw(bool valid, const AddressBeat& a, bool taken) {
        aw_rule_.step(valid, a, taken, [&](auto outcome, const AddressBeat& was) { address_fault("AW", outcome, was, a); });
    }
    void watch_w(bool valid, const WriteBeat<Lanes>& beat, bool taken) {
        w_rule_.step(valid, beat, taken, [&](auto outcome, const WriteBeat<Lanes>& was) { write_fault(outcome, was, beat); });
    }
    // Before each edge, with the RREADY the master drives: a taken RLAST beat ends a read burst.
    void watch_r(bool ready) {
        if (ready && r.valid && r.current.last && reads_in_flight_ != 0) --reads_in_flight_;
    }
    // Read bursts accepted whose RLAST beat the master has not taken yet.
    std::uint64_t reads_in_flight() const { return reads_in_flight_; }

    // After the channels' edge(): run the read and write processes for the edge at cycle `now`.
    void process(std::uint64_t now) {
        now_ = now;
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

    // The violations of the master-side rules (rare: out of line).
    CF_COLD void address_fault(const char* ch, typename HandshakeRule<AddressBeat>::Outcome outcome,
                               const AddressBeat& was, const AddressBeat& a) {
        if (outcome == HandshakeRule<AddressBeat>::kDropped) {
            handshake_fault((std::string(ch) + "VALID dropped before the handshake").c_str(), describe(was).c_str());
            return;
        }
        std::string what;
        char part[80];
        auto member = [&](const char* name, unsigned long long before, unsigned long long after, bool hex) {
            if (before == after) return;
            std::snprintf(part, sizeof part, hex ? "%s%s%s 0x%llx -> 0x%llx" : "%s%s%s %llu -> %llu",
                          what.empty() ? "" : ", ", ch, name, before, after);
            what += part;
        };
        member("ADDR", was.addr, a.addr, true);
        member("LEN", was.len, a.len, false);
        member("SIZE", was.size, a.size, false);
        member("BURST", was.burst, a.burst, false);
        member("ID", was.id, a.id, false);
        handshake_fault((std::string(ch) + " payload changed before the handshake: " + what).c_str(), describe(was).c_str());
    }

    CF_COLD void write_fault(typename HandshakeRule<WriteBeat<Lanes>>::Outcome outcome, const WriteBeat<Lanes>& was,
                             const WriteBeat<Lanes>& beat) {
        if (outcome == HandshakeRule<WriteBeat<Lanes>>::kDropped) {
            handshake_fault("WVALID dropped before the handshake");
            return;
        }
        std::string what;
        if (std::memcmp(was.data, beat.data, Lanes) != 0) what += "WDATA";
        if (was.strb != beat.strb) what += std::string(what.empty() ? "" : ", ") + "WSTRB";
        if (was.last != beat.last) what += std::string(what.empty() ? "" : ", ") + "WLAST";
        handshake_fault(("W payload changed before the handshake: " + what).c_str());
    }

    CF_COLD void outstanding_fault(const AddressBeat& a) {
        char text[240];
        std::snprintf(text, sizeof text, "protocol violation: cycle %llu: read burst at 0x%llx (%u beats) accepted with "
                      "%llu read bursts in flight, more than %u", static_cast<unsigned long long>(now_ + 1),
                      static_cast<unsigned long long>(a.addr), a.len + 1,
                      static_cast<unsigned long long>(reads_in_flight_), s_.max_outstanding_reads);
        faults.note(faults.protocol, text);
    }

    static std::string describe(const AddressBeat& a) {
        char text[100];
        std::snprintf(text, sizeof text, " (burst at 0x%llx, %u beats of %u bytes, burst type %u)",
                      static_cast<unsigned long long>(a.addr), a.len + 1, 1u << a.size, a.burst);
        return text;
    }

    void handshake_fault(const char* what, const char* detail = "") {
        char text[300];
        std::snprintf(text, sizeof text, "protocol violation: cycle %llu: %s%s", static_cast<unsigned long long>(now_ + 1),
                      what, detail);
        faults.note(faults.protocol, text);
    }

    void check_burst(const char* channel, const AddressBeat& a) {
        if ((std::uint64_t{1} << a.size) > Lanes) protocol_fault(channel, a, "AxSIZE is wider than the data bus");
        if (a.burst == 3) protocol_fault(channel, a, "reserved burst type 3");
        else if (s_.incr_only && a.burst != BURST_INCR) protocol_fault(channel, a, "not an INCR burst (AxBURST must be 1)");
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
    std::uint64_t now_ = 0;  // the last edge processed
    // master-side rules
    HandshakeRule<AddressBeat> ar_rule_, aw_rule_;
    HandshakeRule<WriteBeat<Lanes>> w_rule_;
    std::uint64_t reads_in_flight_ = 0;
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
