#pragma once
// The standard mbuf rx-timestamp dynamic field (RTE_MBUF_DYNFIELD_TIMESTAMP_NAME): where a
// packet carries its own time (replay sets it from the capture, NICs may set it), and what
// generated packets inherit. One reader and one writer for every user of the field.

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <cstdint>
#include <string>

namespace smtpguard {

struct MbufTimestamp {
  int offset = -1;    // -1: not registered, nothing carries a time
  uint64_t flag = 0;  // ol_flags bit saying the field is valid

  // Control plane: registers the field and its flag (idempotent in DPDK). One-line error.
  bool registerField(std::string& error);

  // The packet's own time, or `fallback` (the burst's) when it carries none.
  uint64_t read(const rte_mbuf* m, uint64_t fallback) const {
    return (m->ol_flags & flag) != 0 ? *RTE_MBUF_DYNFIELD(m, offset, const uint64_t*) : fallback;
  }
  void write(rte_mbuf* m, uint64_t ts_ns) const {
    if (offset < 0) return;
    *RTE_MBUF_DYNFIELD(m, offset, uint64_t*) = ts_ns;
    m->ol_flags |= flag;
  }
};

}  // namespace smtpguard
