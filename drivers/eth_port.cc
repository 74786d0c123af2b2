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
// Receive-side Scaling", 2012): 0x6d5a repeated.
constexpr uint8_t kSymmetricRssKeyByte[2] = {0x6d, 0x5a};
constexpr size_t kRssKeyLen = 40;

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

bool setupPort(const PortRequest& req, PortInfo& info, std::string& error) {
  rte_eth_dev_info dev_info{};
  int rc = rte_eth_dev_info_get(req.port_id, &dev_info);
  if (rc != 0) {
    error =
        "port " + std::to_string(req.port_id) + ": cannot get device info: " + rte_strerror(-rc);
    return false;
  }
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(req.port_id, name);
  info.name = name;
  info.driver = dev_info.driver_name != nullptr ? dev_info.driver_name : "";

  rte_eth_conf conf{};
  uint8_t key[kRssKeyLen];
  uint64_t rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & dev_info.flow_type_rss_offloads;
  uint16_t queues = std::min<uint16_t>(
      req.queues, std::min<uint16_t>(dev_info.max_rx_queues, dev_info.max_tx_queues));
  if (queues < 1) queues = 1;
  if (queues > 1 && rss_hf != 0 &&
      (dev_info.hash_key_size == 0 || dev_info.hash_key_size == kRssKeyLen)) {
    for (size_t i = 0; i < kRssKeyLen; ++i) key[i] = kSymmetricRssKeyByte[i % 2];
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key;
    conf.rx_adv_conf.rss_conf.rss_key_len = kRssKeyLen;
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    info.rss = true;
  } else {
    queues = 1;
    info.rss = false;
  }

  rc = rte_eth_dev_configure(req.port_id, queues, queues, &conf);
  if (rc != 0) {
    error = "port " + info.name + ": configure failed: " + rte_strerror(-rc);
    return false;
  }
  uint16_t rx_desc = req.rx_desc, tx_desc = req.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(req.port_id, &rx_desc, &tx_desc);
  int socket = rte_eth_dev_socket_id(req.port_id);
  unsigned sock = socket < 0 ? 0u : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < queues; ++q) {
    rc = rte_eth_rx_queue_setup(req.port_id, q, rx_desc, sock, nullptr, req.pool);
    if (rc != 0) {
      error = "port " + info.name + ": RX queue " + std::to_string(q) +
              " setup failed: " + rte_strerror(-rc);
      return false;
    }
    rc = rte_eth_tx_queue_setup(req.port_id, q, tx_desc, sock, nullptr);
    if (rc != 0) {
      error = "port " + info.name + ": TX queue " + std::to_string(q) +
              " setup failed: " + rte_strerror(-rc);
      return false;
    }
  }
  rc = rte_eth_dev_start(req.port_id);
  if (rc != 0) {
    error = "port " + info.name + ": start failed: " + rte_strerror(-rc);
    return false;
  }
  // Not every virtual device implements promiscuous mode; inline forwarding still works on
  // those that deliver every frame anyway (af_packet, ring, pcap).
  if (req.promiscuous) rte_eth_promiscuous_enable(req.port_id);
  info.queues = queues;
  return true;
}

void stopPort(uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace smtpguard
