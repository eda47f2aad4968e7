// convforge native simulator: the Verilated accelerator top (class Vtop) with an AXI4 memory on
// m_axi_gmem and an AXI4-Lite master on s_axi_control, driven by the host over a command channel.
//
//   convforge-sim --fd N --memory PATH --memory-bytes N [--pauses none|fixed|random] [--seed N]
//                 [--stall-probability P] [--read-latency N] [--write-latency N]
//                 [--max-outstanding-reads N] --ctrl-offset N --done-mask N [--poll-cycles N]
//
// The memory is the file PATH (memory-bytes long) mapped shared: the host maps it too and reads
// and writes buffers directly. File descriptor N is a connected stream socket carrying one
// request line per command and one answer line per request ("ok ..." or "err <message>"):
//
//   read OFFSET             -> ok VALUE          AXI4-Lite read of the register at OFFSET
//   write OFFSET VALUE      -> ok                AXI4-Lite write
//   wait_done MAX_CYCLES    -> ok DONE WAITED PROTOCOL
//                                                poll CTRL every POLL cycles (reading it, which
//                                                clears AP_DONE) until AP_DONE or MAX_CYCLES;
//                                                "progress WAITED" lines come every 0.5 s of
//                                                wall time meanwhile; PROTOCOL counts the AXI
//                                                violations seen so far
//   cycles                  -> ok WAITED TOTAL   cycles spent in wait_done; all simulated cycles
//   inject LO HI RESP KIND  -> ok                answer beats in [LO, HI) with RESP (slverr or
//                                                decerr) on KIND accesses (read, write or both)
//   inject clear            -> ok                remove every injected range
//   faults                  -> ok OUT_OF_RANGE INJECTED PROTOCOL [| message]...
//   quit                    -> ok                and the process exits
//
// A refused request is answered "err <message>"; "fail <message>" means the simulation cannot
// continue (the IP's AXI4-Lite port stopped answering). Numbers are decimal or 0x-prefixed
// hexadecimal. The memory checks the IP's side of m_axi_gmem as sim/axi_monitor.py's AxiChecker
// does (see axi_memory.h): besides its burst checks, VALID and the payload held until the
// handshake on AR, AW and W (sampled every cycle), INCR bursts only, and at most
// --max-outstanding-reads read bursts in flight (the design's outstanding_reads; 0, the default:
// no limit). Every request ends with one more clock edge,
// and wait_done polls exactly as sim/accel_server.py's "wait_done" does, so the cycle counts
// match the cocotb server's. The first line the harness writes is "ready LANES" (the data bus
// width in bytes) or "err <message>" when it cannot start.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "Vtop.h"
#include "axi_lite_master.h"
#include "axi_memory.h"
#include "axi_stream.h"
#include "verilated.h"

namespace cf {

// ----- moving bytes between Verilator port types and memory (little-endian host) --------------
inline void load(std::uint8_t* dst, const std::uint32_t& port) { std::memcpy(dst, &port, 4); }
inline void load(std::uint8_t* dst, const std::uint64_t& port) { std::memcpy(dst, &port, 8); }
template <std::size_t N>
inline void load(std::uint8_t* dst, const VlWide<N>& port) { std::memcpy(dst, port.data(), 4 * N); }
inline void store(std::uint32_t& port, const std::uint8_t* src) { std::memcpy(&port, src, 4); }
inline void store(std::uint64_t& port, const std::uint8_t* src) { std::memcpy(&port, src, 8); }
template <std::size_t N>
inline void store(VlWide<N>& port, const std::uint8_t* src) { std::memcpy(port.data(), src, 4 * N); }

using DataPort = std::remove_reference_t<decltype(std::declval<Vtop&>().m_axi_gmem_RDATA)>;
constexpr std::size_t kLanes = sizeof(DataPort);

// ----- options ---------------------------------------------------------------------------------
struct Options {
    int fd = -1;
    std::string memory_path;
    std::uint64_t memory_bytes = 0;
    PauseKind pauses = PauseKind::None;
    std::uint64_t seed = 0;
    double stall_probability = 0.3;
    unsigned read_latency = 2, write_latency = 2;
    unsigned max_outstanding_reads = 0;
    std::uint32_t ctrl_offset = 0;
    std::uint32_t done_mask = 0;
    unsigned poll_cycles = 64;
};

[[noreturn]] void usage_error(const std::string& what) {
    std::fprintf(stderr, "convforge-sim: %s\n", what.c_str());
    std::exit(2);
}

bool parse_u64(const std::string& text, std::uint64_t& out) {
    if (text.empty() || text[0] == '-' || text[0] == '+') return false;
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text.c_str(), &end, 0);
    if (errno != 0 || end == text.c_str() || *end != '\0') return false;
    out = v;
    return true;
}

std::uint64_t option_u64(const std::string& name, const std::string& text, std::uint64_t lo, std::uint64_t hi) {
    std::uint64_t v = 0;
    if (!parse_u64(text, v) || v < lo || v > hi)
        usage_error(name + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + text + "'");
    return v;
}

Options parse_options(int argc, char** argv) {
    Options o;
    bool have_ctrl = false, have_mask = false;
    for (int i = 1; i < argc; ++i) {
        std::string name = argv[i];
        if (i + 1 >= argc) usage_error("option " + name + " needs a value");
        std::string value = argv[++i];
        if (name == "--fd") {
            o.fd = static_cast<int>(option_u64(name, value, 0, 1 << 20));
        } else if (name == "--memory") {
            o.memory_path = value;
        } else if (name == "--memory-bytes") {
            o.memory_bytes = option_u64(name, value, 4096, std::uint64_t{1} << 40);
        } else if (name == "--pauses") {
            if (value == "none") o.pauses = PauseKind::None;
            else if (value == "fixed") o.pauses = PauseKind::Fixed;
            else if (value == "random") o.pauses = PauseKind::Random;
            else usage_error("--pauses must be none, fixed or random, got '" + value + "'");
        } else if (name == "--seed") {
            o.seed = option_u64(name, value, 0, ~0ull);
        } else if (name == "--stall-probability") {
            char* end = nullptr;
            o.stall_probability = std::strtod(value.c_str(), &end);
            if (end == value.c_str() || *end != '\0' || !(o.stall_probability >= 0.0 && o.stall_probability < 1.0))
                usage_error("--stall-probability must be a number in [0, 1), got '" + value + "'");
        } else if (name == "--read-latency") {
            o.read_latency = static_cast<unsigned>(option_u64(name, value, 2, 1000000));
        } else if (name == "--write-latency") {
            o.write_latency = static_cast<unsigned>(option_u64(name, value, 2, 1000000));
        } else if (name == "--max-outstanding-reads") {
            o.max_outstanding_reads = static_cast<unsigned>(option_u64(name, value, 0, 1 << 20));
        } else if (name == "--ctrl-offset") {
            o.ctrl_offset = static_cast<std::uint32_t>(option_u64(name, value, 0, 0xFC));
            have_ctrl = true;
        } else if (name == "--done-mask") {
            o.done_mask = static_cast<std::uint32_t>(option_u64(name, value, 1, 0xFFFFFFFFu));
            have_mask = true;
        } else if (name == "--poll-cycles") {
            o.poll_cycles = static_cast<unsigned>(option_u64(name, value, 1, 1 << 20));
        } else {
            usage_error("unknown option " + name);
        }
    }
    if (o.fd < 0) usage_error("--fd is required");
    if (o.memory_path.empty() || o.memory_bytes == 0) usage_error("--memory and --memory-bytes are required");
    if (o.memory_bytes % 4096) usage_error("--memory-bytes must be a multiple of 4096");
    if (!have_ctrl || !have_mask) usage_error("--ctrl-offset and --done-mask are required");
    return o;
}

// ----- the command channel ---------------------------------------------------------------------
class Channel {
public:
    explicit Channel(int fd) : fd_(fd) {}

    // The next request line without its newline; false at end of file or on an error.
    bool read_line(std::string& line) {
        for (;;) {
            std::size_t nl = buffer_.find('\n');
            if (nl != std::string::npos) {
                line.assign(buffer_, 0, nl);
                buffer_.erase(0, nl + 1);
                return true;
            }
            char chunk[4096];
            ssize_t n = ::read(fd_, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    // Writes one answer line; a host that went away ends the process.
    void send(const std::string& text) {
        std::string line = text + "\n";
        const char* p = line.data();
        std::size_t left = line.size();
        while (left > 0) {
            ssize_t n = ::write(fd_, p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) std::_Exit(3);
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }

private:
    int fd_;
    std::string buffer_;
};

class CommandError : public std::exception {
public:
    explicit CommandError(std::string what, bool fatal = false) : what_(std::move(what)), fatal_(fatal) {}
    const char* what() const noexcept override { return what_.c_str(); }
    bool fatal() const { return fatal_; }

private:
    std::string what_;
    bool fatal_;
};

// ----- the test bench --------------------------------------------------------------------------
class Bench {
public:
    Bench(const Options& o, std::uint8_t* memory)
        : o_(o), mem_(memory_settings(o, memory)), channel_(o.fd) {
        context_ = std::make_unique<VerilatedContext>();
        top_ = std::make_unique<Vtop>(context_.get(), "top");
        top_->ap_clk = 0;
        top_->ap_rst_n = 0;
        drive();
        top_->eval();
    }

    ~Bench() { top_->final(); }

    Channel& channel() { return channel_; }

    // Reset as sim/accel_server.py does: 8 cycles with ap_rst_n low, then 2 more.
    void reset() {
        top_->ap_rst_n = 0;
        for (int i = 0; i < 8; ++i) step();
        top_->ap_rst_n = 1;
        for (int i = 0; i < 2; ++i) step();
    }

    std::string execute(const std::vector<std::string>& words) {
        const std::string& op = words[0];
        if (op == "read") {
            expect_args(words, 1, "read OFFSET");
            std::uint32_t value = lite(false, register_offset(words[1]), 0);
            step();
            return "ok " + std::to_string(value);
        }
        if (op == "write") {
            expect_args(words, 2, "write OFFSET VALUE");
            std::uint32_t offset = register_offset(words[1]);
            std::uint64_t value = number(words[2], "VALUE");
            if (value > 0xFFFFFFFFu) throw CommandError("VALUE must fit 32 bits, got " + words[2]);
            lite(true, offset, static_cast<std::uint32_t>(value));
            step();
            return "ok";
        }
        if (op == "wait_done") {
            expect_args(words, 1, "wait_done MAX_CYCLES");
            std::uint64_t budget = number(words[1], "MAX_CYCLES");
            std::pair<bool, std::uint64_t> r = wait_done(budget);
            return "ok " + std::to_string(r.first ? 1 : 0) + " " + std::to_string(r.second) + " " +
                   std::to_string(mem_.faults.protocol);
        }
        if (op == "cycles") {
            expect_args(words, 0, "cycles");
            return "ok " + std::to_string(waited_total_) + " " + std::to_string(cycle_);
        }
        if (op == "inject") {
            if (words.size() == 2 && words[1] == "clear") {
                mem_.error_ranges.clear();
                return "ok";
            }
            expect_args(words, 4, "inject LO HI slverr|decerr read|write|both, or inject clear");
            ErrorRange e{};
            e.lo = number(words[1], "LO");
            e.hi = number(words[2], "HI");
            if (e.hi <= e.lo) throw CommandError("inject needs LO < HI, got " + words[1] + " " + words[2]);
            if (words[3] == "slverr") e.resp = RESP_SLVERR;
            else if (words[3] == "decerr") e.resp = RESP_DECERR;
            else throw CommandError("the injected response must be slverr or decerr, got '" + words[3] + "'");
            if (words[4] != "read" && words[4] != "write" && words[4] != "both")
                throw CommandError("the injected accesses must be read, write or both, got '" + words[4] + "'");
            e.reads = words[4] != "write";
            e.writes = words[4] != "read";
            mem_.error_ranges.push_back(e);
            return "ok";
        }
        if (op == "faults") {
            expect_args(words, 0, "faults");
            const FaultLog& f = mem_.faults;
            std::string out = "ok " + std::to_string(f.out_of_range) + " " + std::to_string(f.injected) + " " +
                              std::to_string(f.protocol);
            for (const std::string& m : f.messages) out += " | " + m;
            return out;
        }
        throw CommandError("unknown request '" + op +
                           "'; requests are read, write, wait_done, cycles, inject, faults and quit");
    }

private:
    static typename AxiMemory<kLanes>::Settings memory_settings(const Options& o, std::uint8_t* memory) {
        typename AxiMemory<kLanes>::Settings s;
        s.base = memory;
        s.size = o.memory_bytes;
        s.read_latency = o.read_latency;
        s.write_latency = o.write_latency;
        s.pauses = o.pauses;
        s.seed = o.seed;
        s.stall_probability = o.stall_probability;
        s.incr_only = true;  // the IP issues INCR bursts only (AxiChecker's default)
        s.max_outstanding_reads = o.max_outstanding_reads;
        return s;
    }

    static void expect_args(const std::vector<std::string>& words, std::size_t n, const char* form) {
        if (words.size() != n + 1) throw CommandError(std::string("usage: ") + form);
    }

    static std::uint64_t number(const std::string& text, const char* what) {
        std::uint64_t v = 0;
        if (!parse_u64(text, v)) throw CommandError(std::string(what) + " must be a non-negative integer, got '" + text + "'");
        return v;
    }

    static std::uint32_t register_offset(const std::string& text) {
        std::uint64_t v = number(text, "OFFSET");
        if (v > 0xFC || v % 4) throw CommandError("OFFSET must be a multiple of 4 in 0x00..0xfc, got " + text);
        return static_cast<std::uint32_t>(v);
    }

    // One clock cycle. The bench samples what the IP drives before the rising edge, updates its
    // channels and processes as at that edge, and puts its new outputs on the model's inputs; the
    // model (NATIVE_TOP, see sim/native/__init__.py) loads them into its input registers at the
    // same rising edge at which the IP's own registers take their next state. So the IP sees the
    // new values from this edge on, as from a testbench that drives its inputs right after each
    // edge, and the IP's logic is evaluated once per cycle (the falling edge changes nothing).
    //
    // AR, AW and W payloads are sampled every cycle their VALID is high, into the sink's next free
    // slot (committed at the edge only when the beat is taken), so that the memory's handshake
    // rules can compare them with the previous cycle's while a beat waits.
    void step() {
        Vtop& t = *top_;
        const bool ar_valid = t.m_axi_gmem_ARVALID;
        const bool ar_taken = mem_.ar.takes(ar_valid);
        AddressBeat& ar = mem_.ar.queue.back_slot();
        if (ar_valid) capture_address(ar, t.m_axi_gmem_ARADDR, t.m_axi_gmem_ARLEN, t.m_axi_gmem_ARSIZE,
                                      t.m_axi_gmem_ARBURST, t.m_axi_gmem_ARID);
        mem_.watch_ar(ar_valid, ar, ar_taken);
        mem_.watch_r(t.m_axi_gmem_RREADY);
        const bool aw_valid = t.m_axi_gmem_AWVALID;
        const bool aw_taken = mem_.aw.takes(aw_valid);
        AddressBeat& aw = mem_.aw.queue.back_slot();
        if (aw_valid) capture_address(aw, t.m_axi_gmem_AWADDR, t.m_axi_gmem_AWLEN, t.m_axi_gmem_AWSIZE,
                                      t.m_axi_gmem_AWBURST, t.m_axi_gmem_AWID);
        mem_.watch_aw(aw_valid, aw, aw_taken);
        const bool w_valid = t.m_axi_gmem_WVALID;
        const bool w_taken = mem_.w.takes(w_valid);
        WriteBeat<kLanes>& beat = mem_.w.queue.back_slot();
        if (w_valid) {
            load(beat.data, t.m_axi_gmem_WDATA);
            beat.strb = t.m_axi_gmem_WSTRB;
            beat.last = t.m_axi_gmem_WLAST;
        }
        mem_.watch_w(w_valid, beat, w_taken);
        const bool lite_b_taken = lite_.b.takes(t.s_axi_control_BVALID);
        if (lite_b_taken) lite_.b.queue.back_slot() = LiteResponse{0, static_cast<std::uint8_t>(t.s_axi_control_BRESP)};
        const bool lite_r_taken = lite_.r.takes(t.s_axi_control_RVALID);
        if (lite_r_taken)
            lite_.r.queue.back_slot() = LiteResponse{t.s_axi_control_RDATA, static_cast<std::uint8_t>(t.s_axi_control_RRESP)};

        ++cycle_;  // the edge being simulated
        mem_.ar.edge(ar_taken);
        mem_.aw.edge(aw_taken);
        mem_.w.edge(w_taken);
        if (mem_.r.edge(t.m_axi_gmem_RREADY)) r_changed_ = true;
        mem_.b.edge(t.m_axi_gmem_BREADY);
        lite_.aw.edge(t.s_axi_control_AWREADY);
        lite_.w.edge(t.s_axi_control_WREADY);
        lite_.ar.edge(t.s_axi_control_ARREADY);
        lite_.b.edge(lite_b_taken);
        lite_.r.edge(lite_r_taken);
        mem_.process(cycle_);
        lite_done_ = lite_.process();
        drive();

        t.ap_clk = 1;
        t.eval();
        t.ap_clk = 0;
        t.eval();
    }

    template <class A, class L, class S, class B, class I>
    void capture_address(AddressBeat& beat, const A& addr, const L& len, const S& size, const B& burst, const I& id) {
        beat.addr = addr;
        beat.len = len;
        beat.size = size;
        beat.burst = burst;
        beat.id = id;
        beat.accepted_at = cycle_ + 1;  // the edge step() is about to simulate
    }

    // Puts the bench's outputs on the IP's inputs.
    void drive() {
        Vtop& t = *top_;
        t.m_axi_gmem_ARREADY = mem_.ar.ready;
        t.m_axi_gmem_AWREADY = mem_.aw.ready;
        t.m_axi_gmem_WREADY = mem_.w.ready;
        t.m_axi_gmem_RVALID = mem_.r.valid;
        if (r_changed_) {
            const ReadBeat<kLanes>& beat = mem_.r.current;
            store(t.m_axi_gmem_RDATA, beat.data);
            t.m_axi_gmem_RID = beat.id;
            t.m_axi_gmem_RRESP = beat.resp;
            t.m_axi_gmem_RLAST = beat.last;
            r_changed_ = false;
        }
        t.m_axi_gmem_BVALID = mem_.b.valid;
        t.m_axi_gmem_BID = mem_.b.current.id;
        t.m_axi_gmem_BRESP = mem_.b.current.resp;

        t.s_axi_control_AWVALID = lite_.aw.valid;
        t.s_axi_control_AWADDR = lite_.aw.current.addr;
        t.s_axi_control_AWPROT = lite_.aw.current.prot;
        t.s_axi_control_WVALID = lite_.w.valid;
        t.s_axi_control_WDATA = lite_.w.current.data;
        t.s_axi_control_WSTRB = lite_.w.current.strb;
        t.s_axi_control_ARVALID = lite_.ar.valid;
        t.s_axi_control_ARADDR = lite_.ar.current.addr;
        t.s_axi_control_ARPROT = lite_.ar.current.prot;
        t.s_axi_control_BREADY = lite_.b.ready;
        t.s_axi_control_RREADY = lite_.r.ready;
    }

    // One AXI4-Lite access; returns RDATA for a read. It ends at the edge delivering the response.
    std::uint32_t lite(bool is_write, std::uint32_t offset, std::uint32_t value) {
        if (!broken_.empty()) throw CommandError(broken_, true);
        if (is_write) lite_.start_write(offset, value);
        else lite_.start_read(offset);
        for (std::uint64_t n = 0; n < kLiteLimit; ++n) {
            step();
            if (lite_done_) return lite_.result().data;
        }
        char text[200];
        std::snprintf(text, sizeof text, "the IP's AXI4-Lite port did not answer a %s of 0x%02x within %llu cycles; "
                      "the simulation cannot continue", is_write ? "write" : "read", offset,
                      static_cast<unsigned long long>(kLiteLimit));
        broken_ = text;
        throw CommandError(broken_, true);
    }

    std::pair<bool, std::uint64_t> wait_done(std::uint64_t budget) {
        using clock = std::chrono::steady_clock;
        auto last_report = clock::now();
        std::uint64_t waited = 0;
        bool done = false;
        while (waited < budget) {
            for (unsigned i = 0; i < o_.poll_cycles; ++i) step();
            waited += o_.poll_cycles;
            if (lite(false, o_.ctrl_offset, 0) & o_.done_mask) {  // reading CTRL clears AP_DONE
                done = true;
                break;
            }
            auto now = clock::now();
            if (now - last_report >= std::chrono::milliseconds(500)) {
                channel_.send("progress " + std::to_string(waited));
                last_report = now;
            }
        }
        waited_total_ += waited;
        step();
        return {done, waited};
    }

    static constexpr std::uint64_t kLiteLimit = 100000;

    Options o_;
    std::unique_ptr<VerilatedContext> context_;
    std::unique_ptr<Vtop> top_;
    AxiMemory<kLanes> mem_;
    AxiLiteMaster lite_;
    Channel channel_;
    std::uint64_t cycle_ = 0;
    std::uint64_t waited_total_ = 0;
    bool r_changed_ = true;
    bool lite_done_ = false;
    std::string broken_;
};

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
        if (j > i) words.emplace_back(line, i, j - i);
        i = j;
    }
    return words;
}

int run(int argc, char** argv) {
    Options o = parse_options(argc, argv);
    // A host that went away closes the channel: the next read sees its end, the next write fails
    // (progress lines come every 0.5 s during long waits), and the process ends either way.
    signal(SIGPIPE, SIG_IGN);
    Channel hello(o.fd);
    int mfd = ::open(o.memory_path.c_str(), O_RDWR);
    struct stat st {};
    if (mfd < 0 || ::fstat(mfd, &st) != 0) {
        hello.send("err cannot open the memory file " + o.memory_path + ": " + std::strerror(errno));
        return 1;
    }
    if (static_cast<std::uint64_t>(st.st_size) < o.memory_bytes) {
        hello.send("err the memory file " + o.memory_path + " has " + std::to_string(st.st_size) +
                   " bytes, fewer than --memory-bytes " + std::to_string(o.memory_bytes));
        return 1;
    }
    void* memory = ::mmap(nullptr, o.memory_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (memory == MAP_FAILED) {
        hello.send(std::string("err cannot map the memory file: ") + std::strerror(errno));
        return 1;
    }
    ::close(mfd);

    Bench bench(o, static_cast<std::uint8_t*>(memory));
    bench.reset();
    Channel& channel = bench.channel();
    channel.send("ready " + std::to_string(kLanes));
    std::string line;
    while (channel.read_line(line)) {
        std::vector<std::string> words = split(line);
        if (words.empty()) {
            channel.send("err empty request");
            continue;
        }
        if (words[0] == "quit") {
            channel.send("ok");
            return 0;
        }
        try {
            channel.send(bench.execute(words));
        } catch (const CommandError& e) {
            channel.send(std::string(e.fatal() ? "fail " : "err ") + e.what());
        }
    }
    return 0;  // the host closed the channel
}

}  // namespace cf

int main(int argc, char** argv) { return cf::run(argc, argv); }
