#include "drivers/eth_port.h"

#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace smtpguard {
namespace {

// The Toeplitz hash is symmetric under swapping (src, dst) and (sport, dport) when the key
// repeats with a 16-bit period (Woo & Park, "Scalable TCP Session Monitoring with Symmetric
// Receive-side Scaling", 2012): 0x6d5a repeated, for whatever key length the device uses
// (40 bytes on most NICs, 52 on i40e and ice).
constexpr uint8_t kSymmetricRssKeyByte[2] = {0x6d, 0x5a};
constexpr size_t kDefaultRssKeyLen = 40;
constexpr size_t kMaxRssKeyLen = 255;  // hash_key_size is a uint8_t

uint64_t wantedRssTypes(const rte_eth_dev_info& info) {
  return (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
}

}  // namespace

bool findPort(const std::string& name_or_id, uint16_t& port, std::string& error) {
  if (rte_eth_dev_get_port_by_name(name_or_id.c_str(), &port) == 0) return true;
  char* end = nullptr;
  unsigned long id = std::strtoul(name_or_id.c_str(), &end, 10);
  if (!name_or_id.empty() && end != nullptr && *end == '\0' && id < RTE_MAX_ETHPORTS &&
      rte_eth_dev_is_valid_port(static_cast<uint16_t>(id))) {
    port = static_cast<uint16_t>(id);
    return true;
  }
  error = "no port '" + name_or_id + "' (" + std::to_string(rte_eth_dev_count_avail()) +
          " ports found; give a port number or a device name such as net_ring0)";
  return false;
}

bool portCaps(uint16_t port_id, PortCaps& caps, std::string& error) {
  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(port_id, &info);
  if (rc != 0) {
    error = "port " + std::to_string(port_id) + ": cannot get device info: " + rte_strerror(-rc);
    return false;
  }
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(port_id, name);
  caps.name = name;
  caps.driver = info.driver_name != nullptr ? info.driver_name : "";
  caps.max_queues = std::max<uint16_t>(1, std::min(info.max_rx_queues, info.max_tx_queues));
  caps.socket = rte_eth_dev_socket_id(port_id);
  caps.rss_key_len = info.hash_key_size;
  caps.spread = QueueSpread::kNone;
  caps.why_single.clear();
  if (caps.max_queues < 2) {
    caps.why_single = "one queue pair";
  } else if (wantedRssTypes(info) != 0) {
    caps.spread = QueueSpread::kRss;
  } else if (caps.driver == "net_af_packet") {
    // Its queues are the sockets of one PACKET_FANOUT_HASH group: the kernel spreads by its
    // flow hash, which is symmetric, so both directions meet on one queue index.
    caps.spread = QueueSpread::kKernelHash;
  } else {
    caps.why_single = "no RSS for IP/TCP";
    caps.max_queues = 1;
  }
  return true;
}

bool setupPort(const PortRequest& req, const PortCaps& caps, std::string& error) {
  const auto queues = static_cast<uint16_t>(req.pools.size());
  if (queues == 0 || queues > caps.max_queues ||
      (queues > 1 && caps.spread == QueueSpread::kNone)) {
    error = "port " + caps.name + ": cannot use " + std::to_string(queues) + " queue pairs";
    return false;
  }
  rte_eth_conf conf{};
  uint8_t key[kMaxRssKeyLen];
  rte_eth_dev_info info{};
  rte_eth_dev_info_get(req.port_id, &info);
  // Refragmented datagrams leave as chains (a header mbuf and the data it references).
  conf.txmode.offloads |= info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (queues > 1 && caps.spread == QueueSpread::kRss) {
    const size_t key_len = caps.rss_key_len != 0 ? caps.rss_key_len : kDefaultRssKeyLen;
    for (size_t i = 0; i < key_len; ++i) key[i] = kSymmetricRssKeyByte[i % 2];
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key;
    conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(key_len);
    conf.rx_adv_conf.rss_conf.rss_hf = wantedRssTypes(info);
  }
  int rc = rte_eth_dev_configure(req.port_id, queues, queues, &conf);
  if (rc != 0) {
    error = "port " + caps.name + ": configure failed: " + rte_strerror(-rc);
    return false;
  }
  uint16_t rx_desc = req.rx_desc, tx_desc = req.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(req.port_id, &rx_desc, &tx_desc);
  const unsigned sock = caps.socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(caps.socket);
  for (uint16_t q = 0; q < queues; ++q) {
    rc = rte_eth_rx_queue_setup(req.port_id, q, rx_desc, sock, nullptr, req.pools[q]);
    if (rc != 0) {
      error = "port " + caps.name + ": RX queue " + std::to_string(q) +
              " setup failed: " + rte_strerror(-rc);
      return false;
    }
    rc = rte_eth_tx_queue_setup(req.port_id, q, tx_desc, sock, nullptr);
    if (rc != 0) {
      error = "port " + caps.name + ": TX queue " + std::to_string(q) +
              " setup failed: " + rte_strerror(-rc);
      return false;
    }
  }
  rc = rte_eth_dev_start(req.port_id);
  if (rc != 0) {
    error = "port " + caps.name + ": start failed: " + rte_strerror(-rc);
    return false;
  }
  // Not every virtual device implements promiscuous mode; inline forwarding still works on
  // those that deliver every frame anyway (af_packet, ring, pcap).
  if (req.promiscuous) rte_eth_promiscuous_enable(req.port_id);
  return true;
}

void stopPort(uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace smtpguard
