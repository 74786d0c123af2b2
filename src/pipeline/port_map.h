#pragma once
// Destination port -> PortClass, one byte per port: the classification every packet pays for,
// so it is a single indexed load. Built on the control plane from the policy.

#include <array>
#include <cstdint>
#include <vector>

#include "common/port_class.h"

namespace smtpguard {

class PortMap {
 public:
  // The default SMTP port set (docs/policy.md): 25 relay, 465 implicit TLS, 587 and 2525
  // submission.
  static PortMap defaults() {
    PortMap m;
    m.set(25, PortClass::kRelay);
    m.set(465, PortClass::kImplicitTls);
    m.set(587, PortClass::kSubmission);
    m.set(2525, PortClass::kSubmission);
    return m;
  }
  void set(uint16_t port, PortClass c) {
    if (classes_[port] == PortClass::kNone && c != PortClass::kNone) ports_.push_back(port);
    classes_[port] = c;
  }
  PortClass classOf(uint16_t port) const { return classes_[port]; }
  const std::vector<uint16_t>& ports() const { return ports_; }

 private:
  std::array<PortClass, 65536> classes_{};
  std::vector<uint16_t> ports_;
};

}  // namespace smtpguard
