#include "subscriber/subscriber_report.h"

#include <arpa/inet.h>

#include <algorithm>
#include <ctime>
#include <unordered_map>

namespace smtpguard {
namespace {

std::string addrText(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.isV4()) {
    inet_ntop(AF_INET, a.b + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, a.b, buf, sizeof buf);
  }
  return buf;
}

// "2026-01-01T00:00:05.063Z": packet time, UTC.
std::string isoTime(uint64_t ns) {
  if (ns == 0) return "";
  const auto secs = static_cast<time_t>(ns / 1000000000u);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03uZ", static_cast<unsigned>((ns / 1000000u) % 1000u));
  return buf;
}

}  // namespace

namespace {

void addEntry(std::vector<SubscriberRow>& rows, std::unordered_map<uint64_t, size_t>& at,
              const SubscriberEntry& e) {
  auto [it, fresh] = at.emplace(e.key, rows.size());
  if (fresh) {
    rows.emplace_back();
    rows.back().key = e.key;
    rows.back().first_ns = e.first_ns;
  }
  SubscriberRow& row = rows[it->second];
  row.weight += e.weight;
  row.error += e.error;
  row.first_ns = std::min(row.first_ns, e.first_ns);
  row.last_ns = std::max(row.last_ns, e.last_ns);
  for (size_t s = 0; s < kSubStatCount; ++s) row.count[s] += e.count[s];
  row.destinations.merge(e.destinations);
  for (uint8_t i = 0; i < e.n_samples && row.samples.size() < kSampleDestinations; ++i) {
    if (std::find(row.samples.begin(), row.samples.end(), e.samples[i]) == row.samples.end())
      row.samples.push_back(e.samples[i]);
  }
}

void order(std::vector<SubscriberRow>& rows, SubStat by) {
  std::sort(rows.begin(), rows.end(), [by](const SubscriberRow& a, const SubscriberRow& b) {
    const uint64_t va = by == SubStat::kCount ? a.weight : a.stat(by);
    const uint64_t vb = by == SubStat::kCount ? b.weight : b.stat(by);
    return va != vb ? va > vb : a.key < b.key;
  });
}

}  // namespace

std::vector<SubscriberRow> mergeSubscriberEntries(std::span<const SubscriberEntry> entries,
                                                  SubStat by) {
  std::vector<SubscriberRow> rows;
  std::unordered_map<uint64_t, size_t> at;
  for (const SubscriberEntry& e : entries) addEntry(rows, at, e);
  order(rows, by);
  return rows;
}

SubscriberReport buildSubscriberReport(std::span<const SubscriberTable* const> tables,
                                       const QuarantineSet* quarantine, uint64_t now_ns,
                                       unsigned v6_prefix, SubStat by) {
  SubscriberReport r;
  r.workers = static_cast<uint32_t>(tables.size());
  r.v6_prefix = v6_prefix;
  std::unordered_map<uint64_t, size_t> at;
  for (const SubscriberTable* t : tables) {
    r.slots_per_worker = t->capacity();
    r.events += t->events();
    r.evictions += t->evictions();
    r.memory_bytes += t->memoryBytes();
    r.error_bound = std::max<uint64_t>(r.error_bound, t->events() / t->capacity());
    for (const SubscriberEntry& e : t->entries()) addEntry(r.rows, at, e);
  }
  if (quarantine != nullptr) {
    for (SubscriberRow& row : r.rows) row.quarantined_until_ns = quarantine->until(row.key, now_ns);
  }
  order(r.rows, by);
  return r;
}

std::string subscriberReportJson(const SubscriberReport& r) {
  std::string o = "{\"subscribers\":{";
  o += "\"workers\":" + std::to_string(r.workers);
  o += ",\"slots_per_worker\":" + std::to_string(r.slots_per_worker);
  o += ",\"memory_bytes\":" + std::to_string(r.memory_bytes);
  o += ",\"events\":" + std::to_string(r.events);
  o += ",\"evicted\":" + std::to_string(r.evictions);
  o += ",\"error_bound\":" + std::to_string(r.error_bound);
  o += ",\"v6_prefix\":" + std::to_string(r.v6_prefix);
  o += ",\"tracked\":" + std::to_string(r.rows.size());
  o += "},\"top\":[";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const SubscriberRow& row = r.rows[i];
    o += i == 0 ? "\n" : ",\n";
    o += "{\"source\":\"" + formatSubscriberKey(row.key, r.v6_prefix) + "\"";
    o += ",\"weight\":" + std::to_string(row.weight) + ",\"error\":" + std::to_string(row.error);
    o += ",\"first_seen\":\"" + isoTime(row.first_ns) + "\",\"last_seen\":\"" +
         isoTime(row.last_ns) + "\"";
    for (size_t s = 0; s < kSubStatCount; ++s) {
      o += ",\"" + std::string(kSubStatNames[s]) +
           "\":" + std::to_string(row.stat(static_cast<SubStat>(s)));
    }
    o += ",\"port25_destinations_exact\":";
    o += row.destinations.exact() ? "true" : "false";
    o += ",\"sample_destinations\":[";
    for (size_t j = 0; j < row.samples.size(); ++j)
      o += (j ? ",\"" : "\"") + addrText(row.samples[j]) + "\"";
    o += "],\"quarantined_until\":";
    o += row.quarantined_until_ns ? "\"" + isoTime(row.quarantined_until_ns) + "\"" : "null";
    o += "}";
  }
  o += "\n]}\n";
  return o;
}

std::string subscriberReportCsv(const SubscriberReport& r) {
  std::string o = "source,first_seen,last_seen,weight,error";
  for (std::string_view n : kSubStatNames) o += "," + std::string(n);
  o += ",sample_destinations,quarantined_until\n";
  for (const SubscriberRow& row : r.rows) {
    o += formatSubscriberKey(row.key, r.v6_prefix) + "," + isoTime(row.first_ns) + "," +
         isoTime(row.last_ns) + "," + std::to_string(row.weight) + "," + std::to_string(row.error);
    for (size_t s = 0; s < kSubStatCount; ++s)
      o += "," + std::to_string(row.stat(static_cast<SubStat>(s)));
    o += ",";
    for (size_t j = 0; j < row.samples.size(); ++j) o += (j ? " " : "") + addrText(row.samples[j]);
    o += "," + isoTime(row.quarantined_until_ns) + "\n";
  }
  return o;
}

}  // namespace smtpguard
