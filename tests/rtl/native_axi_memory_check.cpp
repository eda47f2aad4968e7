// Checks of the native simulator's AXI4 memory (sim/native/axi_memory.h) on its own, driven by a
// small AXI master in C++ with the harness's per-edge order: sample what both sides drive, then
// the channels' edge(), then the memory's processes. Built and run by test_native_axi_memory.py;
// prints one line per failed check and exits 1 if any failed.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "axi_memory.h"

using namespace cf;

static int failures = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::printf("FAILED line %d: %s\n", __LINE__, #cond);                    \
            ++failures;                                                              \
        }                                                                            \
    } while (0)

constexpr std::size_t L = 8;  // a 64-bit bus

struct Got {
    ReadBeat<L> beat;
    std::uint64_t edge;
};

struct Response {
    WriteResponse b;
    std::uint64_t edge;
};

// The IP's side of the memory port: offers queued AR/AW/W beats (the front of each queue, which a
// test may change while it waits, or withdraw for a cycle with *_off), ready for R when `rready`
// and always for B, and reports what it drives to the memory's rules before each edge as the
// harness does. With `max_reads` it offers an AR only while fewer read bursts are in flight.
struct Master {
    explicit Master(AxiMemory<L>& memory) : m(memory) {}

    AxiMemory<L>& m;
    std::uint64_t cycle = 0;
    std::deque<AddressBeat> ar, aw;
    std::deque<WriteBeat<L>> w;
    std::vector<Got> r;
    std::vector<Response> b;
    std::vector<std::uint64_t> ar_accepted;
    bool rready = true;
    bool ar_off = false, aw_off = false, w_off = false;
    unsigned max_reads = 0;        // 0: no limit of its own
    unsigned in_flight = 0;        // its count: ARs accepted minus RLAST beats taken
    unsigned peak_in_flight = 0;
    std::uint64_t waits = 0;       // cycles in which an AR, AW or W beat was offered and not taken

    void step() {
        bool ar_valid = !ar.empty() && !ar_off && (max_reads == 0 || in_flight < max_reads);
        bool ar_taken = m.ar.takes(ar_valid);
        AddressBeat& a = m.ar.queue.back_slot();
        if (ar_valid) {
            a = ar.front();
            a.accepted_at = cycle + 1;
        }
        m.watch_ar(ar_valid, a, ar_taken);
        m.watch_r(rready);
        if (ar_taken) {
            ar_accepted.push_back(cycle + 1);
            ar.pop_front();
            ++in_flight;
            if (in_flight > peak_in_flight) peak_in_flight = in_flight;
        }
        bool aw_valid = !aw.empty() && !aw_off;
        bool aw_taken = m.aw.takes(aw_valid);
        AddressBeat& c = m.aw.queue.back_slot();
        if (aw_valid) {
            c = aw.front();
            c.accepted_at = cycle + 1;
        }
        m.watch_aw(aw_valid, c, aw_taken);
        if (aw_taken) aw.pop_front();
        bool w_valid = !w.empty() && !w_off;
        bool w_taken = m.w.takes(w_valid);
        WriteBeat<L>& d = m.w.queue.back_slot();
        if (w_valid) d = w.front();
        m.watch_w(w_valid, d, w_taken);
        if (w_taken) w.pop_front();
        waits += (ar_valid && !ar_taken) + (aw_valid && !aw_taken) + (w_valid && !w_taken);
        if (m.r.valid && rready) {
            r.push_back(Got{m.r.current, cycle + 1});
            if (m.r.current.last) --in_flight;
        }
        if (m.b.valid) b.push_back(Response{m.b.current, cycle + 1});
        ++cycle;
        m.ar.edge(ar_taken);
        m.aw.edge(aw_taken);
        m.w.edge(w_taken);
        m.r.edge(rready);
        m.b.edge(true);
        m.process(cycle);
    }
    void run(int n) {
        for (int i = 0; i < n; ++i) step();
    }
};

static AddressBeat burst(std::uint64_t addr, unsigned beats, unsigned size = 3, unsigned type = BURST_INCR) {
    return AddressBeat{addr, beats - 1, size, type, 1, 0};
}

static WriteBeat<L> beat(std::uint64_t value, std::uint64_t strb, bool last) {
    WriteBeat<L> b{};
    std::memcpy(b.data, &value, 8);
    b.strb = strb;
    b.last = last;
    return b;
}

static std::uint64_t word(const ReadBeat<L>& b) {
    std::uint64_t v;
    std::memcpy(&v, b.data, 8);
    return v;
}

static bool has_message(const FaultLog& f, const char* text) {
    for (const std::string& m : f.messages)
        if (m.find(text) != std::string::npos) return true;
    return false;
}

static void print_messages(const FaultLog& f) {
    for (const std::string& m : f.messages) std::printf("  message: %s\n", m.c_str());
}

// The protocol count, printing the messages when it is not the expected one.
static std::uint64_t protocol_faults(const FaultLog& f, std::uint64_t expected) {
    if (f.protocol != expected) {
        std::printf("  %llu protocol faults, expected %llu\n", static_cast<unsigned long long>(f.protocol),
                    static_cast<unsigned long long>(expected));
        print_messages(f);
    }
    return f.protocol;
}

int main() {
    std::vector<std::uint8_t> ram(1 << 16);
    for (std::size_t i = 0; i < ram.size(); ++i) ram[i] = static_cast<std::uint8_t>(i * 7 + 3);
    AxiMemory<L>::Settings s;
    s.base = ram.data();
    s.size = ram.size();

    {  // INCR write with byte enables, then INCR read back; AxiRam's latency of 2 cycles each way.
        AxiMemory<L> m(s);
        Master io{m};
        io.aw.push_back(burst(0x100, 3));
        io.w.push_back(beat(0x1111111111111111ull, 0xFF, false));
        io.w.push_back(beat(0x2222222222222222ull, 0x0F, false));
        io.w.push_back(beat(0x3333333333333333ull, 0x00, true));
        io.run(12);
        CHECK(io.b.size() == 1 && io.b[0].b.resp == RESP_OKAY && io.b[0].b.id == 1);
        std::uint64_t v;
        std::memcpy(&v, &ram[0x100], 8);
        CHECK(v == 0x1111111111111111ull);
        std::memcpy(&v, &ram[0x108], 8);
        CHECK((v & 0xFFFFFFFFull) == 0x22222222ull && (v >> 32) == ((std::uint64_t{ram[0x10C + 3]} << 24) |
              (std::uint64_t{ram[0x10C + 2]} << 16) | (std::uint64_t{ram[0x10C + 1]} << 8) | ram[0x10C]));
        CHECK(ram[0x110] == static_cast<std::uint8_t>(0x110 * 7 + 3));  // WSTRB 0: untouched
        io.ar.push_back(burst(0x100, 3));
        io.run(10);
        CHECK(io.r.size() == 3);
        CHECK(io.r.size() == 3 && word(io.r[0].beat) == 0x1111111111111111ull && !io.r[0].beat.last && io.r[2].beat.last);
        CHECK(io.r.size() == 3 && io.r[0].edge - io.ar_accepted[0] == 2);  // read latency
        CHECK(io.r.size() == 3 && io.r[1].edge == io.r[0].edge + 1 && io.r[2].edge == io.r[1].edge + 1);
        CHECK(m.faults.protocol == 0 && m.faults.out_of_range == 0);
    }
    {  // Configured latencies; back-to-back bursts still stream.
        AxiMemory<L>::Settings t = s;
        t.read_latency = 10;
        t.write_latency = 7;
        t.incr_only = true;
        t.max_outstanding_reads = 2;
        AxiMemory<L> m(t);
        Master io{m};
        io.ar.push_back(burst(0x200, 2));
        io.ar.push_back(burst(0x210, 2));
        io.aw.push_back(burst(0x300, 1));
        io.w.push_back(beat(5, 0xFF, true));
        io.run(30);
        CHECK(io.r.size() == 4 && io.r[0].edge - io.ar_accepted[0] == 10);
        CHECK(io.r.size() == 4 && io.r[3].edge - io.r[0].edge == 3);  // the second burst's latency is hidden
        CHECK(io.b.size() == 1);
        CHECK(io.peak_in_flight == 2 && m.reads_in_flight() == 0);
        CHECK(protocol_faults(m.faults, 0) == 0);
    }
    {  // FIXED and WRAP bursts, narrow beats.
        AxiMemory<L> m(s);
        Master io{m};
        io.ar.push_back(burst(0x408, 3, 3, BURST_FIXED));
        io.ar.push_back(burst(0x418, 4, 3, BURST_WRAP));  // 32-byte wrap window 0x400..0x41f
        io.ar.push_back(burst(0x504, 2, 2));              // 4-byte beats: words 0x500, 0x508
        io.run(20);
        std::uint64_t at408, at418, at400, at410, at500, at508;
        std::memcpy(&at408, &ram[0x408], 8);
        std::memcpy(&at418, &ram[0x418], 8);
        std::memcpy(&at400, &ram[0x400], 8);
        std::memcpy(&at410, &ram[0x410], 8);
        std::memcpy(&at500, &ram[0x500], 8);
        std::memcpy(&at508, &ram[0x508], 8);
        CHECK(io.r.size() == 9);
        if (io.r.size() == 9) {
            CHECK(word(io.r[0].beat) == at408 && word(io.r[1].beat) == at408 && word(io.r[2].beat) == at408);
            CHECK(word(io.r[3].beat) == at418 && word(io.r[4].beat) == at400 && word(io.r[5].beat) == at408 &&
                  word(io.r[6].beat) == at410);
            CHECK(word(io.r[7].beat) == at500 && word(io.r[8].beat) == at508);
        }
        CHECK(m.faults.protocol == 0);
    }
    {  // Protocol violations are counted and described; the bursts are still served.
        AxiMemory<L> m(s);
        Master io{m};
        io.ar.push_back(burst(0xFF8, 2));  // crosses 0x1000
        io.aw.push_back(burst(0x600, 2));
        io.w.push_back(beat(1, 0xFF, true));  // WLAST on the first of two beats
        io.w.push_back(beat(2, 0xFF, true));
        io.ar.push_back(burst(0x700, 1, 4));  // 16-byte beats on an 8-byte bus
        io.run(20);
        CHECK(m.faults.protocol == 3);
        CHECK(has_message(m.faults, "crosses a 4 KiB boundary"));
        CHECK(has_message(m.faults, "WLAST before the last beat"));
        CHECK(has_message(m.faults, "AxSIZE is wider than the data bus"));
        CHECK(io.r.size() == 3 && io.b.size() == 1);
    }
    {  // Outside the memory (whole bursts: a legal burst does not cross the 4 KiB pages the memory
       // is made of): DECERR, zero data, writes dropped, one message per burst.
        AxiMemory<L> m(s);
        Master io{m};
        io.ar.push_back(burst(ram.size(), 2));
        io.aw.push_back(burst(ram.size() + 0x100, 2));
        io.w.push_back(beat(9, 0xFF, false));
        io.w.push_back(beat(9, 0xFF, true));
        io.ar.push_back(burst(ram.size() - 16, 2));  // the last two words: inside
        io.run(15);
        CHECK(io.r.size() == 4 && io.r[0].beat.resp == RESP_DECERR && io.r[1].beat.resp == RESP_DECERR &&
              word(io.r[1].beat) == 0 && io.r[2].beat.resp == RESP_OKAY && io.r[3].beat.resp == RESP_OKAY);
        CHECK(io.b.size() == 1 && io.b[0].b.resp == RESP_DECERR);
        CHECK(m.faults.out_of_range == 4 && m.faults.messages.size() == 2 && m.faults.protocol == 0);
        CHECK(has_message(m.faults, "read burst at 0x10000 (2 beats of 8 bytes) reaches outside the 65536-byte memory"));
    }
    {  // Injected errors: SLVERR reads in the range, DECERR writes (dropped) in another.
        AxiMemory<L> m(s);
        m.error_ranges.push_back(ErrorRange{0x800, 0x810, RESP_SLVERR, true, false});
        m.error_ranges.push_back(ErrorRange{0x900, 0x908, RESP_DECERR, false, true});
        Master io{m};
        std::uint8_t before = ram[0x900];
        io.ar.push_back(burst(0x7F8, 4));
        io.aw.push_back(burst(0x900, 2));
        io.w.push_back(beat(0xAB, 0xFF, false));
        io.w.push_back(beat(0xCD, 0xFF, true));
        io.run(15);
        CHECK(io.r.size() == 4 && io.r[0].beat.resp == RESP_OKAY && io.r[1].beat.resp == RESP_SLVERR &&
              io.r[2].beat.resp == RESP_SLVERR && io.r[3].beat.resp == RESP_OKAY && word(io.r[1].beat) == 0);
        CHECK(io.b.size() == 1 && io.b[0].b.resp == RESP_DECERR);
        CHECK(ram[0x900] == before && ram[0x908] == 0xCD);
        CHECK(m.faults.injected == 3);
    }
    {  // Random pauses on every channel: the same data, later; beats wait, legally.
        AxiMemory<L>::Settings t = s;
        t.pauses = PauseKind::Random;
        t.seed = 11;
        t.incr_only = true;
        t.max_outstanding_reads = 1;
        AxiMemory<L> m(t);
        Master io{m};
        for (int i = 0; i < 16; ++i) io.w.push_back(beat(0x0101010101010101ull * i, 0xFF, i == 15));
        io.aw.push_back(burst(0xA00, 16));
        io.ar.push_back(burst(0xA00, 16));  // may overtake the write: read after it instead
        io.run(200);
        io.ar.push_back(burst(0xA00, 16));
        io.run(200);
        CHECK(io.b.size() == 1 && io.r.size() == 32);
        bool same = io.r.size() == 32;
        for (std::size_t i = 16; same && i < 32; ++i) same = word(io.r[i].beat) == 0x0101010101010101ull * (i - 16);
        CHECK(same);
        std::uint64_t span = io.r.size() == 32 ? io.r[31].edge - io.r[16].edge : 0;
        CHECK(span > 15);  // paused at least once
        CHECK(io.waits > 0);  // AR, AW or W beats waited for READY: the handshake rule was exercised
        CHECK(protocol_faults(m.faults, 0) == 0);
    }
    {  // Legal traffic at the limit of outstanding reads, with every channel paused at random and
       // R held back: many beats wait, reads reach the limit, no violation.
        AxiMemory<L>::Settings t = s;
        t.pauses = PauseKind::Random;
        t.seed = 3;
        t.stall_probability = 0.5;
        t.read_latency = 5;
        t.incr_only = true;
        t.max_outstanding_reads = 2;
        AxiMemory<L> m(t);
        Master io{m};
        io.max_reads = 2;
        unsigned beats = 0;
        for (unsigned i = 0; i < 12; ++i) {
            unsigned n = 1 + (i * 5) % 8;
            io.ar.push_back(burst(0x2000 + 0x100 * i, n));
            beats += n;
            io.aw.push_back(burst(0x3000 + 0x100 * i, n));
            for (unsigned k = 0; k < n; ++k) io.w.push_back(beat(i * 100 + k, k % 2 ? 0x0F : 0xFF, k + 1 == n));
        }
        for (int c = 0; c < 600; ++c) {
            io.rready = (c / 7) % 3 != 0;  // R held back for 7 of every 21 cycles
            io.step();
        }
        io.rready = true;
        io.run(100);
        CHECK(io.r.size() == beats && io.b.size() == 12 && io.ar.empty() && io.aw.empty() && io.w.empty());
        CHECK(io.peak_in_flight == 2 && m.reads_in_flight() == 0);
        CHECK(io.waits > 50);
        CHECK(protocol_faults(m.faults, 0) == 0);
    }
    {  // (a) ARVALID dropped before the handshake. R held back: the read process keeps the first
       // burst, two more fill the AR queue, and the fourth waits with ARREADY low.
        AxiMemory<L> m(s);
        Master io{m};
        io.rready = false;
        for (unsigned i = 0; i < 4; ++i) io.ar.push_back(burst(0x1000 + 0x40 * i, 4));
        io.run(10);
        CHECK(io.ar.size() == 1 && !m.ar.ready && io.waits > 0);
        CHECK(m.faults.protocol == 0);
        io.ar_off = true;  // withdrawn for one cycle
        io.run(1);
        io.ar_off = false;
        io.run(3);  // offered again, waiting: a new handshake, no second fault
        io.rready = true;
        io.run(40);
        CHECK(protocol_faults(m.faults, 1) == 1);
        CHECK(has_message(m.faults, "ARVALID dropped before the handshake (burst at 0x10c0, 4 beats of 8 bytes"));
        CHECK(io.r.size() == 16 && io.ar.empty());  // still served
    }
    {  // (b) AWADDR changed while the AW waits. No W data: the write process keeps the first
       // burst, two more fill the AW queue, the fourth waits.
        AxiMemory<L> m(s);
        Master io{m};
        for (unsigned i = 0; i < 4; ++i) io.aw.push_back(burst(0x1000 + 0x40 * i, 2));
        io.run(10);
        CHECK(io.aw.size() == 1 && !m.aw.ready && io.waits > 0);
        io.aw.front().addr = 0x1400;
        io.run(3);
        for (unsigned i = 0; i < 8; ++i) io.w.push_back(beat(i, 0xFF, i % 2 == 1));
        io.run(40);
        CHECK(protocol_faults(m.faults, 1) == 1);
        CHECK(has_message(m.faults, "AW payload changed before the handshake: AWADDR 0x10c0 -> 0x1400"));
        CHECK(io.b.size() == 4 && io.aw.empty() && io.w.empty());
        std::uint64_t v;
        std::memcpy(&v, &ram[0x1408], 8);
        CHECK(v == 7);  // the burst taken is the one offered at the handshake
    }
    {  // (c) WDATA, then WSTRB, changed while a W beat waits. No AW: two beats fill the W queue,
       // the third waits.
        AxiMemory<L> m(s);
        Master io{m};
        for (unsigned i = 0; i < 4; ++i) io.w.push_back(beat(0x10 + i, 0xFF, i == 3));
        io.run(10);
        CHECK(io.w.size() == 2 && !m.w.ready && io.waits > 0);
        std::memset(io.w.front().data, 0xEE, L);
        io.run(2);
        io.w.front().strb = 0x0F;
        io.run(2);
        io.aw.push_back(burst(0x1800, 4));
        io.run(20);
        CHECK(protocol_faults(m.faults, 2) == 2);
        CHECK(has_message(m.faults, "W payload changed before the handshake: WDATA"));
        CHECK(has_message(m.faults, "W payload changed before the handshake: WSTRB"));
        CHECK(io.b.size() == 1 && io.w.empty());
    }
    {  // AWVALID and WVALID dropped before their handshakes: one fault each.
        AxiMemory<L> m(s);
        Master io{m};
        for (unsigned i = 0; i < 4; ++i) io.aw.push_back(burst(0x1000 + 0x40 * i, 1));
        io.run(10);
        CHECK(io.aw.size() == 1 && !m.aw.ready);
        io.aw_off = true;
        io.run(1);
        io.aw_off = false;
        io.run(2);
        CHECK(protocol_faults(m.faults, 1) == 1);
        CHECK(has_message(m.faults, "AWVALID dropped before the handshake"));
        // the W queue: the write process takes one beat per AW burst; W beats wait behind it
        AxiMemory<L> m2(s);
        Master io2{m2};
        for (unsigned i = 0; i < 3; ++i) io2.w.push_back(beat(i, 0xFF, true));
        io2.run(10);
        CHECK(io2.w.size() == 1 && !m2.w.ready);
        io2.w_off = true;
        io2.run(1);
        io2.w_off = false;
        for (unsigned i = 0; i < 3; ++i) io2.aw.push_back(burst(0x1000 + 0x40 * i, 1));
        io2.run(20);
        CHECK(protocol_faults(m2.faults, 1) == 1);
        CHECK(has_message(m2.faults, "WVALID dropped before the handshake"));
        CHECK(io2.b.size() == 3);
    }
    {  // (d) With incr_only, a FIXED read and a WRAP write are violations (and still served); the
       // same bursts without incr_only are legal (see above).
        AxiMemory<L>::Settings t = s;
        t.incr_only = true;
        AxiMemory<L> m(t);
        Master io{m};
        io.ar.push_back(burst(0x408, 3, 3, BURST_FIXED));
        io.ar.push_back(burst(0x500, 2));
        io.aw.push_back(burst(0x618, 4, 3, BURST_WRAP));
        for (unsigned i = 0; i < 4; ++i) io.w.push_back(beat(i, 0xFF, i == 3));
        io.run(20);
        CHECK(protocol_faults(m.faults, 2) == 2);
        CHECK(has_message(m.faults, "read burst at 0x408 (3 beats of 8 bytes, burst type 0): not an INCR burst"));
        CHECK(has_message(m.faults, "write burst at 0x618 (4 beats of 8 bytes, burst type 2): not an INCR burst"));
        CHECK(io.r.size() == 5 && io.b.size() == 1);
    }
    {  // (e) More read bursts in flight than max_outstanding_reads: R held back, three ARs
       // accepted (one served, two queued) with a limit of two.
        AxiMemory<L>::Settings t = s;
        t.max_outstanding_reads = 2;
        AxiMemory<L> m(t);
        Master io{m};
        io.rready = false;
        for (unsigned i = 0; i < 3; ++i) io.ar.push_back(burst(0x1000 + 0x40 * i, 4));
        io.run(10);
        CHECK(io.ar.empty() && m.reads_in_flight() == 3);
        io.rready = true;
        io.run(30);
        CHECK(io.r.size() == 12 && m.reads_in_flight() == 0);
        // the count went down with each RLAST: two more in flight at once are legal
        io.rready = false;
        for (unsigned i = 0; i < 2; ++i) io.ar.push_back(burst(0x2000 + 0x40 * i, 4));
        io.run(10);
        CHECK(io.ar.empty() && m.reads_in_flight() == 2);
        io.rready = true;
        io.run(30);
        CHECK(protocol_faults(m.faults, 1) == 1);
        CHECK(has_message(m.faults, "read burst at 0x1080 (4 beats) accepted with 3 read bursts in flight, more than 2"));
        CHECK(io.r.size() == 20);
    }
    if (failures) {
        std::printf("%d checks failed\n", failures);
        return 1;
    }
    std::printf("all checks passed\n");
    return 0;
}
