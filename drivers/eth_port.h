#pragma once
// Ethdev port set-up for the live modes: real NICs, net_pcap, net_af_packet, net_memif,
// net_ring alike. Knows ports and queues, not SMTP.

#include <cstdint>
#include <string>

struct rte_mempool;

namespace smtpguard {

struct PortRequest {
  uint16_t port_id = 0;
  uint16_t queues = 1;  // wanted RX/TX queue pairs (one per worker lcore)
  rte_mempool* pool = nullptr;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  bool promiscuous = true;  // an inline appliance forwards frames not addressed to it
};

struct PortInfo {
  uint16_t queues = 0;  // queue pairs actually configured
  bool rss = false;     // symmetric Toeplitz RSS across those queues
  std::string name;     // "0000:01:00.0", "net_pcap0", ...
  std::string driver;
};

// Finds a port by number or device name ("0", "net_ring0").
bool findPort(const std::string& name_or_id, uint16_t& port, std::string& error);

// Configures and starts the port. Where the device supports RSS and enough queues, uses a
// symmetric key so both directions of a flow reach the same queue (and so the same lcore and
// flow table); otherwise one queue pair.
bool setupPort(const PortRequest& req, PortInfo& info, std::string& error);

void stopPort(uint16_t port_id);

}  // namespace smtpguard
