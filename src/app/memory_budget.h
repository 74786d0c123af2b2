#pragma once
// How much memory this process can still get, so --flows is checked before workers allocate
// (and touch) their tables: too many flows is a one-line error, never std::bad_alloc or the
// kernel's OOM killer. Control plane.

#include <cstddef>
#include <cstdint>
#include <string>

namespace smtpguard {

// Bytes available now: the least of MemAvailable (/proc/meminfo) and the cgroup's room
// (memory.max - memory.current, cgroup v2). SIZE_MAX when neither can be read.
size_t availableMemory();

// Whether `workers` workers of `flows` flows (and `subscriber_slots` subscribers) each fit in
// `available` bytes (with a tenth left for the rest of the process). If not, a one-line error
// naming the largest --flows that fits.
bool flowsFitMemory(unsigned workers, uint32_t flows, uint32_t subscriber_slots, size_t available,
                    std::string& error);

}  // namespace smtpguard
