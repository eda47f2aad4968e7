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

// The IP's side of the memory port: offers queued AR/AW/W beats, always ready for R and B.
struct Master {
    explicit Master(AxiMemory<L>& memory) : m(memory) {}

    AxiMemory<L>& m;
    std::uint64_t cycle = 0;
    std::deque<AddressBeat> ar, aw;
    std::deque<WriteBeat<L>> w;
    std::vector<Got> r;
    std::vector<Response> b;
    std::vector<std::uint64_t> ar_accepted;

    void step() {
        bool ar_taken = m.ar.takes(!ar.empty());
        if (ar_taken) {
            m.ar.queue.back_slot() = ar.front();
            m.ar.queue.back_slot().accepted_at = cycle + 1;
            ar_accepted.push_back(cycle + 1);
            ar.pop_front();
        }
        bool aw_taken = m.aw.takes(!aw.empty());
        if (aw_taken) {
            m.aw.queue.back_slot() = aw.front();
            m.aw.queue.back_slot().accepted_at = cycle + 1;
            aw.pop_front();
        }
        bool w_taken = m.w.takes(!w.empty());
        if (w_taken) {
            m.w.queue.back_slot() = w.front();
            w.pop_front();
        }
        if (m.r.valid) r.push_back(Got{m.r.current, cycle + 1});
        if (m.b.valid) b.push_back(Response{m.b.current, cycle + 1});
        ++cycle;
        m.ar.edge(ar_taken);
        m.aw.edge(aw_taken);
        m.w.edge(w_taken);
        m.r.edge(true);
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
    {  // Random pauses on every channel: the same data, later.
        AxiMemory<L>::Settings t = s;
        t.pauses = PauseKind::Random;
        t.seed = 11;
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
    }
    if (failures) {
        std::printf("%d checks failed\n", failures);
        return 1;
    }
    std::printf("all checks passed\n");
    return 0;
}
