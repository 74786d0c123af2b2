#pragma once
// Ethdev port set-up for the live modes: real NICs, net_pcap, net_af_packet, net_memif,
// net_ring alike. Knows ports and queues, not SMTP.

#include <cstdint>
#include <string>
#include <vector>

struct rte_mempool;

namespace smtpguard {

// How a port can spread connections over several RX queues so that both directions of a
// connection reach the same queue index (and so one lcore and one flow table).
enum class QueueSpread : uint8_t {
  kNone,       // one queue pair only
  kRss,        // the NIC's RSS, with a symmetric Toeplitz key of the device's key length
  kKernelHash  // net_af_packet: PACKET_FANOUT_HASH over the kernel's symmetric flow hash
};

struct PortCaps {
  std::string name;  // "0000:01:00.0", "net_af_packet0", ...
  std::string driver;
  uint16_t max_queues = 1;  // queue pairs the device can give
  QueueSpread spread = QueueSpread::kNone;
  uint8_t rss_key_len = 0;  // the device's hash_key_size (0: the usual 40)
  int socket = -1;          // NUMA socket of the device (-1: unknown)
  std::string why_single;   // when spread is kNone: why, for the start-up line
};

struct PortRequest {
  uint16_t port_id = 0;
  // RX queue q takes its mbufs from pools[q] (the pool of the socket whose lcore polls it);
  // the number of queue pairs is pools.size().
  std::vector<rte_mempool*> pools;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  bool promiscuous = true;  // an inline appliance forwards frames not addressed to it
};

// Finds a port by number or device name ("0", "net_ring0").
bool findPort(const std::string& name_or_id, uint16_t& port, std::string& error);

// What the device can do, before it is configured.
bool portCaps(uint16_t port_id, PortCaps& caps, std::string& error);

// Configures and starts the port with exactly req.pools.size() queue pairs (at most
// caps.max_queues; more than one only where caps.spread is not kNone).
bool setupPort(const PortRequest& req, const PortCaps& caps, std::string& error);

void stopPort(uint16_t port_id);

}  // namespace smtpguard
