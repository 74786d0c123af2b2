#pragma once
// The abuse desk's report (docs/subscribers.md): the workers' subscriber tables merged by key,
// most active first, as JSON (`smtpguard replay --subscribers FILE`) or CSV
// (`--subscribers-csv FILE`). Control plane: reads tables whose workers are stopped.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "subscriber/quarantine_set.h"
#include "subscriber/subscriber_table.h"

namespace smtpguard {

struct SubscriberRow {
  uint64_t key = 0;
  uint64_t weight = 0;
  uint64_t error = 0;
  uint64_t first_ns = 0;
  uint64_t last_ns = 0;
  uint32_t count[kSubStatCount] = {};
  DistinctCounter destinations;
  std::vector<IpAddr> samples;
  uint64_t quarantined_until_ns = 0;

  uint32_t stat(SubStat s) const {
    return s == SubStat::kPort25Destinations ? destinations.estimate()
                                             : count[static_cast<size_t>(s)];
  }
};

struct SubscriberReport {
  uint32_t slots_per_worker = 0;
  uint32_t workers = 0;
  uint64_t events = 0;
  uint64_t evictions = 0;
  size_t memory_bytes = 0;   // all workers' tables
  uint64_t error_bound = 0;  // the largest N/capacity of the workers
  unsigned v6_prefix = kDefaultSubscriberV6Prefix;
  std::vector<SubscriberRow> rows;  // by `by` descending, then key
};

// Merges the tables; orders by `by` (kCount: by weight). `now_ns` judges quarantine expiry.
SubscriberReport buildSubscriberReport(std::span<const SubscriberTable* const> tables,
                                       const QuarantineSet* quarantine, uint64_t now_ns,
                                       unsigned v6_prefix, SubStat by = SubStat::kCount);
// Rows from loose entries (several workers' answers), merged by key, ordered as above.
std::vector<SubscriberRow> mergeSubscriberEntries(std::span<const SubscriberEntry> entries,
                                                  SubStat by = SubStat::kCount);
std::string subscriberReportJson(const SubscriberReport& r);
std::string subscriberReportCsv(const SubscriberReport& r);

}  // namespace smtpguard
