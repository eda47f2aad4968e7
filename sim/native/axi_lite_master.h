// An AXI4-Lite master for the IP's s_axi_control port: one 32-bit access at a time, with the
// channel timing of cocotbext-axi's AxiLiteMaster (write_dword / read_dword): the address and
// data are queued when the access starts and driven at the next edge; the access ends at the edge
// that delivers the B (write) or R (read) beat.
#pragma once

#include <cstdint>

#include "axi_stream.h"

namespace cf {

struct LiteAddress {
    std::uint32_t addr;
    std::uint32_t prot;
};

struct LiteWriteData {
    std::uint32_t data;
    std::uint32_t strb;
};

struct LiteResponse {
    std::uint32_t data;  // RDATA (reads only)
    std::uint8_t resp;
};

class AxiLiteMaster {
public:
    // AxPROT of cocotbext-axi's default AxiProt.NONSECURE (unprivileged, non-secure, data).
    static constexpr std::uint32_t kProt = 0b010;

    Source<LiteAddress> aw, ar;
    Source<LiteWriteData> w;
    Sink<LiteResponse> b, r;

    bool busy() const { return state_ != State::Idle; }

    void start_write(std::uint32_t addr, std::uint32_t data) {
        aw.queue.push(LiteAddress{addr, kProt});
        w.queue.push(LiteWriteData{data, 0xF});
        state_ = State::Writing;
    }

    void start_read(std::uint32_t addr) {
        ar.queue.push(LiteAddress{addr, kProt});
        state_ = State::Reading;
    }

    // After the channels' edge(): true when the access ended at this edge.
    bool process() {
        Sink<LiteResponse>& sink = state_ == State::Writing ? b : r;
        if (state_ == State::Idle || sink.queue.empty()) return false;
        result_ = sink.queue.front();
        sink.queue.pop();
        state_ = State::Idle;
        return true;
    }

    // RDATA and RRESP/BRESP of the access that ended last.
    const LiteResponse& result() const { return result_; }

private:
    enum class State { Idle, Writing, Reading };
    State state_ = State::Idle;
    LiteResponse result_{};
};

}  // namespace cf
