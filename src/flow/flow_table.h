#pragma once
// The per-lcore flow table. One entry holds both directions of a TCP connection under a
// canonical key (the lower (address, port) endpoint first), the TCP state that decides its
// timeout, one TcpStream per direction and the application's hot per-flow state.
//
// Everything is allocated at construction: entries in one array, an open-addressed index of
// (hash, entry) pairs at load factor <= 0.5 (linear probing, backward-shift deletion: no
// tombstones), a free list and one intrusive LRU list per timeout class. A packet costs one
// hash, a short probe and, once per millisecond at most, an O(1) move to the tail of its list;
// expiry pops list heads, whose flows are the oldest in their class, so the sweep never scans
// live flows. No locks: one table
// per worker lcore.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>

#include "common/object_pool.h"
#include "common/placed_array.h"
#include "flow/tcp_stream.h"
#include "packet/packet_parser.h"
#include "stats/counter_block.h"

namespace smtpguard {

enum class FlowDir : uint8_t { kToServer = 0, kToClient = 1 };

enum class TcpState : uint8_t {
  kSynSent,      // client SYN seen
  kSynReceived,  // server SYN-ACK seen
  kEstablished,  // handshake completed, or picked up mid-stream
  kHalfClosed,   // FIN from one side
  kClosed,       // FIN from both sides, or RST: kept briefly so late packets still match
};

// Why a flow ended; the name is the `reason` of the end-of-flow event.
// kPolicy: the application ended it (a block verdict); the table itself never uses it.
enum class EndReason : uint8_t { kTimeout, kEvicted, kFin, kRst, kShutdown, kPolicy };

constexpr const char* endReasonName(EndReason r) {
  switch (r) {
    case EndReason::kTimeout:
      return "timeout";
    case EndReason::kEvicted:
      return "evicted";
    case EndReason::kFin:
      return "fin";
    case EndReason::kRst:
      return "rst";
    case EndReason::kShutdown:
      return "shutdown";
    case EndReason::kPolicy:
      return "policy";
  }
  return "unknown";
}

inline constexpr uint64_t kNsPerMs = 1'000'000;
inline constexpr uint64_t kNsPerSec = 1'000'000'000;

// Idle time after the last packet, per TCP state. Resolution is 1 ms.
struct FlowTimeouts {
  uint64_t handshake_ns = 30 * kNsPerSec;
  uint64_t established_ns = 300 * kNsPerSec;
  uint64_t half_closed_ns = 30 * kNsPerSec;
  uint64_t closing_ns = 10 * kNsPerSec;  // after FIN from both sides or RST
};

struct FlowTableConfig {
  uint32_t capacity = 65536;  // flows per lcore, at most 2^30
  FlowTimeouts timeouts;
  uint16_t table_id = 0;  // the worker's index: makes flow_id unique across lcores
  uint64_t hash_seed = 0x6a09e667f3bcc908;  // set per run to keep crafted tuples from colliding
  // Entries picked up mid-stream (no SYN seen) at most; past it the oldest such entry makes
  // room, so a flood of ACKs for random tuples only ever recycles its own kind. 0: capacity/8.
  uint32_t midstream_budget = 0;
};

// Canonical 5-tuple (the protocol is always TCP): lower (address, port) endpoint first.
struct FlowKey {
  IpAddr lo;
  IpAddr hi;
  uint16_t lo_port;
  uint16_t hi_port;
};
static_assert(sizeof(FlowKey) == 36);
static_assert(std::has_unique_object_representations_v<FlowKey>, "keys compare as bytes");

namespace detail {
// Bytes [at, at + 8) of an address as a number that orders like memcmp does.
inline uint64_t addrWord(const IpAddr& a, size_t at) {
  uint64_t w;
  std::memcpy(&w, a.b + at, sizeof(w));
  if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
  return w;
}
}  // namespace detail

// The 36 bytes of a FlowKey as the words the hash and the comparison read. FlowKey has no
// padding, so its bytes are the key. On the lookup path they come straight from the packet's
// addresses: the key itself is only written when a flow is created.
struct FlowKeyWords {
  uint64_t w[4];   // key.lo, then key.hi, eight bytes at a time
  uint32_t ports;  // key.lo_port and key.hi_port
};

inline FlowKeyWords keyWords(const IpAddr& lo, const IpAddr& hi, uint16_t lo_port,
                             uint16_t hi_port) {
  FlowKeyWords k;
  std::memcpy(&k.w[0], lo.b, 8);
  std::memcpy(&k.w[1], lo.b + 8, 8);
  std::memcpy(&k.w[2], hi.b, 8);
  std::memcpy(&k.w[3], hi.b + 8, 8);
  const uint16_t ports[2] = {lo_port, hi_port};  // FlowKey's layout
  std::memcpy(&k.ports, ports, sizeof(k.ports));
  return k;
}

inline FlowKeyWords keyWords(const FlowKey& key) {
  return keyWords(key.lo, key.hi, key.lo_port, key.hi_port);
}

inline bool sameFlowKey(const FlowKey& key, const FlowKeyWords& k) {
  const FlowKeyWords e = keyWords(key);
  return ((e.w[0] ^ k.w[0]) | (e.w[1] ^ k.w[1]) | (e.w[2] ^ k.w[2]) | (e.w[3] ^ k.w[3]) |
          (e.ports ^ k.ports)) == 0;
}

// wyhash-style multiply-fold over the 36 key bytes; seeded so the bucket of a tuple cannot be
// predicted from outside.
inline uint32_t hashFlowKey(const FlowKeyWords& k, uint64_t seed) {
  __extension__ typedef unsigned __int128 U128;
  auto fold = [](uint64_t a, uint64_t b) {
    const U128 p = static_cast<U128>(a) * b;
    return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
  };
  const uint64_t* w = k.w;
  const uint32_t tail = k.ports;
  const uint64_t a = fold(w[0] ^ 0xa0761d6478bd642f, w[1] ^ seed);
  const uint64_t b = fold(w[2] ^ 0xe7037ed1a0b428db, w[3] ^ 0x8ebc6af09c88c6e3);
  const uint64_t h = fold(a ^ tail ^ 0x589965cc75374cc3, b ^ seed ^ 0x1d8e4e27c47d124f);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

inline uint32_t hashFlowKey(const FlowKey& k, uint64_t seed) {
  return hashFlowKey(keyWords(k), seed);
}

// A packet's canonical key, in words, and which way the packet went.
struct PacketKey {
  FlowKeyWords words;
  bool sender_is_lo;  // the packet went from key.lo to key.hi
};

// The canonical order puts the lower (address, port) endpoint first: compare(src, dst) < 0, or
// equal addresses and src_port <= dst_port; as two word compares instead of a memcmp call.
inline PacketKey packetKey(const IpAddr& src, uint16_t src_port, const IpAddr& dst,
                           uint16_t dst_port) {
  const uint64_t s0 = detail::addrWord(src, 0), d0 = detail::addrWord(dst, 0);
  const uint64_t s1 = detail::addrWord(src, 8), d1 = detail::addrWord(dst, 8);
  const bool src_lo = s0 != d0 ? s0 < d0 : (s1 != d1 ? s1 < d1 : src_port <= dst_port);
  return src_lo ? PacketKey{keyWords(src, dst, src_port, dst_port), true}
                : PacketKey{keyWords(dst, src, dst_port, src_port), false};
}

// A bijection on 64 bits (the splitmix64 finaliser): distinct inputs give distinct ids that
// still look random to whoever samples or shards events by flow_id.
constexpr uint64_t scrambleFlowId(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9;
  x ^= x >> 27;
  x *= 0x94d049bb133111eb;
  x ^= x >> 31;
  return x;
}

// One flow: both directions of a TCP connection. Fields written by FlowTable only, except
// stream[] (the caller feeds segments) and app (the application's own state).
// Offsets for a 32-byte App:
//   0 key (36) | 36 serial | 40 lru_prev | 44 lru_next | 48 last_seen_ms | 52 client_isn
//  56 created_ns | 64 bytes[2] | 72 server_port | 74 state | 75 flags | 76 stream[2]
//  92 app_ref | 96 app
template <class App>
struct alignas(64) FlowEntry {
  static constexpr uint8_t kClientIsLo = 1 << 0;
  static constexpr uint8_t kFinToServer = 1 << 1;
  static constexpr uint8_t kFinToClient = 1 << 2;
  static constexpr uint8_t kRstSeen = 1 << 3;
  static constexpr uint8_t kMidstream = 1 << 4;
  static constexpr uint8_t kLive = 1 << 5;  // in use (a free entry has no flag set)

  FlowKey key;
  uint32_t serial;    // the table's creation counter; FlowTable::flowId() makes the id of it
  uint32_t lru_prev;  // index links of the table's lists; the free list uses lru_next
  uint32_t lru_next;
  uint32_t last_seen_ms;  // table clock, wraps after 49 days: only differences are used
  uint32_t client_isn;    // tells a retransmitted SYN from a new connection on the tuple
  uint64_t created_ns;
  uint32_t bytes[2];  // TCP payload bytes by FlowDir, saturating
  uint16_t server_port;
  TcpState state;
  uint8_t flags;
  TcpStream stream[2];  // by FlowDir
  // The application's own: a pool handle for state it attaches only while needed (the
  // pipeline keeps its TLS handshake state there). Zeroed at creation, never read here.
  uint32_t app_ref;
  App app;

  TcpStream& streamOf(FlowDir d) { return stream[static_cast<size_t>(d)]; }
  uint32_t bytesOf(FlowDir d) const { return bytes[static_cast<size_t>(d)]; }
  bool clientIsLo() const { return flags & kClientIsLo; }
  bool midstream() const { return flags & kMidstream; }
  const IpAddr& clientAddr() const { return clientIsLo() ? key.lo : key.hi; }
  const IpAddr& serverAddr() const { return clientIsLo() ? key.hi : key.lo; }
  uint16_t clientPort() const { return clientIsLo() ? key.lo_port : key.hi_port; }
  FlowDir dirOf(bool sender_is_lo) const {
    return sender_is_lo == clientIsLo() ? FlowDir::kToServer : FlowDir::kToClient;
  }
  // At millisecond resolution, from the created timestamp and the 32-bit table clock.
  uint64_t lastSeenNs() const {
    const uint64_t created_ms = created_ns / kNsPerMs;
    const uint32_t delta = last_seen_ms - static_cast<uint32_t>(created_ms);
    return (created_ms + delta) * kNsPerMs;
  }
};

namespace detail {
// Stands in for the SMTP engine's hot state (at most 32 bytes) to check the budget here.
struct ReferenceApp32 {
  uint8_t bytes[32];
};
static_assert(sizeof(FlowEntry<ReferenceApp32>) == 128);
static_assert(offsetof(FlowEntry<ReferenceApp32>, stream) == 76);
static_assert(offsetof(FlowEntry<ReferenceApp32>, app_ref) == 92);
static_assert(offsetof(FlowEntry<ReferenceApp32>, app) == 96);
}  // namespace detail

template <class App>
struct FlowLookup {
  FlowEntry<App>* entry = nullptr;  // null only for a RST that matches no flow
  FlowDir dir = FlowDir::kToServer;
  bool created = false;
};

template <class App>
class FlowTable {
 public:
  using Entry = FlowEntry<App>;
  using Lookup = FlowLookup<App>;
  static_assert(sizeof(Entry) <= 128, "the hot per-flow state must fit two cache lines");

  // Control plane: allocates everything the table will ever use. The pools lend out-of-order
  // buffers and histories to the entries' streams and get them back when flows end: the caller
  // feeds the streams with the same pools.
  FlowTable(const FlowTableConfig& config, StreamPools pools, CounterBlock& counters,
            const MemorySource& memory = {})
      : capacity_(config.capacity),
        table_id_(config.table_id),
        seed_(config.hash_seed),
        pool_(pools),
        counters_(counters) {
    if (capacity_ == 0 || capacity_ > (1u << 30))
      throw std::invalid_argument("flow table capacity must be between 1 and 2^30");
    uint32_t nbuckets = 2;
    while (nbuckets < 2 * capacity_) nbuckets <<= 1;
    mask_ = nbuckets - 1;
    entries_ = PlacedArray<Entry>(capacity_, memory);
    buckets_ = PlacedArray<Bucket>(nbuckets, memory);
    for (uint32_t i = 0; i < nbuckets; ++i) buckets_[i] = {0, kNil};
    for (uint32_t i = 0; i < capacity_; ++i)
      entries_[i].lru_next = i + 1 < capacity_ ? i + 1 : kNil;
    free_head_ = 0;
    midstream_budget_ = config.midstream_budget != 0 ? config.midstream_budget
                                                     : std::max<uint32_t>(capacity_ / 8, 1);
    timeout_ms_[kClassMidstream] = toMs(config.timeouts.established_ns);
    timeout_ms_[kClassHandshake] = toMs(config.timeouts.handshake_ns);
    timeout_ms_[kClassEstablished] = toMs(config.timeouts.established_ns);
    timeout_ms_[kClassHalfClosed] = toMs(config.timeouts.half_closed_ns);
    timeout_ms_[kClassClosing] = toMs(config.timeouts.closing_ns);
  }
  // Streams without histories.
  FlowTable(const FlowTableConfig& config, ObjectPool<OooBuffer>& ooo_pool, CounterBlock& counters)
      : FlowTable(config, StreamPools{ooo_pool, nullptr}, counters) {}
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // What the constructor allocates for `capacity` flows.
  static size_t memoryFor(uint32_t capacity) {
    size_t nbuckets = 2;
    while (nbuckets < 2 * size_t{capacity}) nbuckets <<= 1;
    return size_t{capacity} * sizeof(Entry) + nbuckets * sizeof(Bucket);
  }

  // TCP packets only. Finds the packet's flow or creates it, updates TCP state, byte counts and LRU
  // position, and says which way the packet goes. A full table first ends its oldest idle flow
  // (kEvicted). A SYN with a new ISN on a closing tuple ends the old flow (kFin/kRst) and starts a
  // new one. is_server_port(uint16_t) -> bool tells the client side of a flow picked up mid-stream;
  // on_end(Entry&, EndReason) runs before any flow's entry is reused.
  template <class IsServerPort, class OnEnd>
  Lookup lookupOrCreate(const PacketInfo& p, uint64_t now_ns, IsServerPort&& is_server_port,
                        OnEnd&& on_end) {
    return lookupOrCreate(p, probe(p), now_ns, is_server_port, on_end);
  }

  // A burst loop can look packets up in steps, so that the table's memory is fetched while it
  // works on earlier packets: probe() hashes a packet's key, prefetchBucket() then its home
  // bucket, prefetchEntry() (once the bucket has arrived) the entry the bucket points to, and
  // lookupOrCreate() with the probe finds both in cache. Prefetching changes nothing else.
  struct Probe {
    PacketKey key;
    uint32_t hash;
  };
  Probe probe(const PacketInfo& p) const {
    const PacketKey key = packetKey(p.src, p.src_port, p.dst, p.dst_port);
    return {key, hashFlowKey(key.words, seed_)};
  }
  void prefetchBucket(const Probe& pr) const { __builtin_prefetch(&buckets_[pr.hash & mask_]); }
  void prefetchEntry(const Probe& pr) const {
    const Bucket b = buckets_[pr.hash & mask_];
    if (b.idx == kNil) return;  // a new flow: create() takes the free list's head
    const auto* e = reinterpret_cast<const char*>(&entries_[b.idx]);
    __builtin_prefetch(e);
    __builtin_prefetch(e + 64);
  }

  // Inlined into both callers, so that the one-step lookup keeps the probe in registers.
  template <class IsServerPort, class OnEnd>
  [[gnu::always_inline]] Lookup lookupOrCreate(const PacketInfo& p, const Probe& pr,
                                               uint64_t now_ns, IsServerPort&& is_server_port,
                                               OnEnd&& on_end) {
    advanceClock(now_ns);
    const PacketKey& ck = pr.key;
    const uint32_t hash = pr.hash;
    uint32_t idx = find(ck.words, hash);
    if (idx != kNil) {
      Entry& e = entries_[idx];
      const FlowDir dir = e.dirOf(ck.sender_is_lo);
      if (!startsNewConnection(e, dir, p)) {
        update(idx, dir, p);
        return {&e, dir, false};
      }
      endAt(idx, closedReason(e), on_end);
    } else if (p.tcp_flags & kTcpRst) {
      return {};  // nothing to track: the connection, if any, is already gone
    }
    idx = create(ck.sender_is_lo, hash, p, now_ns, is_server_port, on_end);
    Entry& e = entries_[idx];
    const FlowDir dir = e.dirOf(ck.sender_is_lo);
    update(idx, dir, p);
    return {&e, dir, true};
  }

  // The flow of a packet without touching anything; for tests and the control plane.
  const Entry* find(const IpAddr& src, uint16_t src_port, const IpAddr& dst,
                    uint16_t dst_port) const {
    const PacketKey ck = packetKey(src, src_port, dst, dst_port);
    const uint32_t idx = find(ck.words, hashFlowKey(ck.words, seed_));
    return idx == kNil ? nullptr : &entries_[idx];
  }

  // Ends up to max_work flows whose idle time reached their state's timeout, oldest first;
  // called once per burst. Returns how many ended.
  template <class OnEnd>
  uint32_t expire(uint64_t now_ns, uint32_t max_work, OnEnd&& on_end) {
    advanceClock(now_ns);
    uint32_t ended = 0;
    // Shortest timeouts first: their flows are the ones a backlog would delay most.
    for (uint8_t c :
         {kClassClosing, kClassHandshake, kClassHalfClosed, kClassMidstream, kClassEstablished}) {
      while (ended < max_work) {
        const uint32_t idx = lists_[c].head;
        if (idx == kNil || idleMs(entries_[idx]) < timeout_ms_[c]) break;
        const Entry& e = entries_[idx];
        endAt(idx, c == kClassClosing ? closedReason(e) : EndReason::kTimeout, on_end);
        ++ended;
      }
    }
    return ended;
  }

  // Ends one flow now, e.g. after the policy reset it.
  template <class OnEnd>
  void end(Entry& e, EndReason reason, OnEnd&& on_end) {
    endAt(static_cast<uint32_t>(&e - entries_.get()), reason, on_end);
  }

  // Every live flow, oldest first within each class. fn must not end flows.
  template <class Fn>
  void forEach(Fn&& fn) {
    for (const List& l : lists_)
      for (uint32_t i = l.head; i != kNil;) {
        const uint32_t next = entries_[i].lru_next;
        fn(entries_[i]);
        i = next;
      }
  }

  // The live flows among entries [begin, end) in index order, so that a scan of the whole
  // table can be spread over several calls (a control-plane query answered between bursts):
  // a flow that lives through the whole scan is seen once, one that comes or goes during it
  // at most once. fn must not end flows.
  template <class Fn>
  void forEachIn(uint32_t begin, uint32_t end, Fn&& fn) {
    end = std::min(end, capacity_);
    for (uint32_t i = begin; i < end; ++i)
      if (entries_[i].flags & Entry::kLive) fn(entries_[i]);
  }

  // Ends every flow with kShutdown.
  template <class OnEnd>
  void drain(OnEnd&& on_end) {
    for (List& l : lists_)
      while (l.head != kNil) endAt(l.head, EndReason::kShutdown, on_end);
  }

  // Unique per flow across lcores (the table id) and, within a table, across 2^32 creations;
  // the creation millisecond makes a wrapped serial collide only if it also lands on the same
  // millisecond modulo 65 s. Scrambled so ids sample and shard evenly.
  uint64_t flowId(const Entry& e) const {
    const uint64_t ms16 = (e.created_ns / kNsPerMs) & 0xffff;
    return scrambleFlowId((static_cast<uint64_t>(table_id_) << 48) | (ms16 << 32) | e.serial);
  }
  uint32_t size() const { return size_; }
  // The entry's position in the table, [0, capacity()): stable for the flow's life, for state
  // the caller keeps beside the table.
  uint32_t indexOf(const Entry& e) const { return static_cast<uint32_t>(&e - entries_.get()); }
  uint32_t capacity() const { return capacity_; }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  // Flows of one class share a timeout, so each list is ordered by last_seen as well as LRU.
  static constexpr uint8_t kClassHandshake = 0;
  static constexpr uint8_t kClassEstablished = 1;
  static constexpr uint8_t kClassHalfClosed = 2;
  static constexpr uint8_t kClassClosing = 3;
  // Established but picked up mid-stream: unconfirmed, first to go when the table is full.
  static constexpr uint8_t kClassMidstream = 4;
  static constexpr uint8_t kClassCount = 5;

  struct Bucket {
    uint32_t hash;
    uint32_t idx;  // kNil: empty
  };
  struct List {
    uint32_t head = kNil;
    uint32_t tail = kNil;
  };

  static uint32_t toMs(uint64_t ns) {
    const uint64_t ms = ns / kNsPerMs;
    return ms > INT32_MAX ? INT32_MAX : static_cast<uint32_t>(ms);
  }
  static uint8_t classOf(const Entry& e) {
    // By TcpState value and the mid-stream flag, one load instead of a switch on every packet;
    // sixteen entries so that the index needs a mask, not a bounds test.
    static constexpr uint8_t kClassOf[16] = {
        kClassHandshake, kClassHandshake, kClassEstablished, kClassHalfClosed,
        kClassClosing,   kClassClosing,   kClassClosing,     kClassClosing,
        kClassHandshake, kClassHandshake, kClassMidstream,   kClassHalfClosed,
        kClassClosing,   kClassClosing,   kClassClosing,     kClassClosing};
    static_assert(static_cast<size_t>(TcpState::kClosed) == 4);
    static_assert(Entry::kMidstream == 1 << 4);
    return kClassOf[(static_cast<size_t>(e.state) & 7) | ((e.flags & Entry::kMidstream) >> 1)];
  }
  static EndReason closedReason(const Entry& e) {
    if (e.flags & Entry::kRstSeen) return EndReason::kRst;
    if (e.state == TcpState::kClosed || e.state == TcpState::kHalfClosed) return EndReason::kFin;
    return EndReason::kTimeout;
  }

  // Timestamps may step back a little (merged capture queues); the table clock never does, so
  // each list stays ordered.
  void advanceClock(uint64_t now_ns) {
    const uint64_t ms = now_ns / kNsPerMs;
    if (ms > clock_ms_) clock_ms_ = ms;
  }
  uint32_t idleMs(const Entry& e) const {
    const auto idle = static_cast<int32_t>(static_cast<uint32_t>(clock_ms_) - e.last_seen_ms);
    return idle < 0 ? 0 : static_cast<uint32_t>(idle);
  }

  uint32_t find(const FlowKeyWords& key, uint32_t hash) const {
    for (uint32_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Bucket b = buckets_[i];
      if (b.idx == kNil) return kNil;
      if (b.hash == hash && sameFlowKey(entries_[b.idx].key, key)) return b.idx;
    }
  }

  // RFC 9293 §3.10.7.4 (TIME-WAIT): a SYN may open a new connection on a closing tuple; a SYN
  // carrying the old ISN is a late retransmission of the old one.
  static bool startsNewConnection(const Entry& e, FlowDir dir, const PacketInfo& p) {
    if ((p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) != kTcpSyn) return false;
    if (e.state != TcpState::kHalfClosed && e.state != TcpState::kClosed) return false;
    return e.midstream() || dir != FlowDir::kToServer || p.seq != e.client_isn;
  }

  // Out of line like nextState: once per flow.
  template <class IsServerPort, class OnEnd>
  [[gnu::noinline]] uint32_t create(bool sender_is_lo, uint32_t hash, const PacketInfo& p,
                                    uint64_t now_ns, IsServerPort&& is_server_port,
                                    OnEnd&& on_end) {
    // A pick-up without a SYN over its budget takes the place of the oldest such entry.
    if ((p.tcp_flags & kTcpSyn) == 0 && midstream_ >= midstream_budget_ &&
        lists_[kClassMidstream].head != kNil) {
      counters_.inc(Counter::kFlowsMidstreamRecycled);
      endAt(lists_[kClassMidstream].head, EndReason::kEvicted, on_end);
    }
    if (free_head_ == kNil) evictOldest(on_end);
    const uint32_t idx = free_head_;
    Entry& e = entries_[idx];
    free_head_ = e.lru_next;

    bool sender_is_client = true;
    e.flags = Entry::kLive;
    e.client_isn = 0;
    if ((p.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
      e.state = TcpState::kSynSent;
      e.client_isn = p.seq;
    } else if (p.tcp_flags & kTcpSyn) {
      // SYN-ACK whose SYN we missed: the receiver is the client, and it sent ISN = ack - 1.
      sender_is_client = false;
      e.state = TcpState::kSynReceived;
      e.client_isn = p.ack - 1;
    } else {
      // Mid-stream: the client is the side talking to the SMTP port; failing that, the side
      // with the higher (ephemeral) port.
      if (is_server_port(p.dst_port)) {
        sender_is_client = true;
      } else if (is_server_port(p.src_port)) {
        sender_is_client = false;
      } else {
        sender_is_client = p.src_port >= p.dst_port;
      }
      e.state = TcpState::kEstablished;
      e.flags |= Entry::kMidstream;
      counters_.inc(Counter::kFlowsMidstream);
      ++midstream_;
    }
    if (sender_is_client == sender_is_lo) e.flags |= Entry::kClientIsLo;
    e.key = sender_is_lo ? FlowKey{p.src, p.dst, p.src_port, p.dst_port}
                         : FlowKey{p.dst, p.src, p.dst_port, p.src_port};
    e.server_port = sender_is_client ? p.dst_port : p.src_port;
    e.serial = next_serial_++;
    e.created_ns = now_ns;
    e.last_seen_ms = static_cast<uint32_t>(clock_ms_);
    e.bytes[0] = e.bytes[1] = 0;
    e.stream[0] = TcpStream{};
    e.stream[1] = TcpStream{};
    e.app_ref = 0;
    e.app = App{};

    uint32_t i = hash & mask_;
    while (buckets_[i].idx != kNil) i = (i + 1) & mask_;
    buckets_[i] = {hash, idx};
    append(classOf(e), idx);
    ++size_;
    counters_.inc(Counter::kFlowsCreated);
    counters_.inc(Counter::kFlowsActive);
    bumpCounter((*counters_.flows_port)[e.server_port]);
    return idx;
  }

  // The packet's effect on the flow: its TCP state, then bytes and LRU position. Inlined: called
  // for every packet, and as a call it cost more in saved registers than in work.
  [[gnu::always_inline]] void update(uint32_t idx, FlowDir dir, const PacketInfo& p) {
    Entry& e = entries_[idx];
    const uint8_t old_class = classOf(e);
    // Most packets are data or bare ACKs of an established flow and change no state: only SYN,
    // FIN and RST, and an ACK during the handshake, can.
    if ((p.tcp_flags & (kTcpSyn | kTcpFin | kTcpRst)) != 0 || old_class == kClassHandshake)
      e.state = nextState(e, dir, p);
    uint32_t& b = e.bytes[static_cast<size_t>(dir)];
    b = p.payload_len > UINT32_MAX - b ? UINT32_MAX : b + p.payload_len;

    // Each list is ordered by last_seen_ms at the clock's resolution, and that is all expiry and
    // eviction need: a flow seen again within the millisecond it was last seen keeps its place
    // (its last_seen_ms does not change), so a burst of one flow's packets, or of many flows
    // within a millisecond, relinks each flow once (the relink writes into two other entries'
    // cache lines). Between flows last seen in the same millisecond the list's order is no
    // longer that of the last packet: eviction then takes any of those, all equally idle.
    const auto now_ms = static_cast<uint32_t>(clock_ms_);
    const bool moved = e.last_seen_ms != now_ms;
    e.last_seen_ms = now_ms;
    const uint8_t new_class = classOf(e);
    if (new_class != old_class || (moved && lists_[new_class].tail != idx)) {
      unlink(old_class, idx);
      append(new_class, idx);
    }
  }

  // RFC 9293 §3.3.2 state transitions as far as a middlebox can tell them from flags alone.
  // Out of line: few packets need it, and inlined it would make every packet save registers.
  [[gnu::noinline]] TcpState nextState(Entry& e, FlowDir dir, const PacketInfo& p) {
    const uint8_t f = p.tcp_flags;
    TcpState s = e.state;
    if (f & kTcpRst) {
      // An out-of-window RST is dropped by the receiver (RFC 5961 §3.2): the connection goes on,
      // and so does its flow (issue 9: a bogus RST, silence, then the rest of an AUTH line).
      if (!e.stream[static_cast<size_t>(dir)].rstAcceptable(p.seq)) {
        counters_.inc(Counter::kTcpRstOutOfWindow);
        return s;
      }
      e.flags |= Entry::kRstSeen;
      s = TcpState::kClosed;
    } else {
      if (s == TcpState::kSynSent || s == TcpState::kSynReceived) {
        if (f & kTcpSyn) {
          if ((f & kTcpAck) && dir == FlowDir::kToClient) {
            s = TcpState::kSynReceived;
            // The server acknowledges the ISN it took: after a second SYN with another ISN it
            // may be the first (issue 9). The client stream follows the server.
            TcpStream& c = e.stream[static_cast<size_t>(FlowDir::kToServer)];
            if (p.ack - 1 != e.client_isn && (!c.synced() || c.nextSeq() != p.ack)) {
              e.client_isn = p.ack - 1;
              c.resyncTo(p.ack, pool_);
            }
          } else if (!(f & kTcpAck) && dir == FlowDir::kToServer && p.seq != e.client_isn) {
            // The client gave up and retried with a fresh ISN: same attempt, new sequence space.
            e.client_isn = p.seq;
            e.stream[0].reset(pool_);
            e.stream[1].reset(pool_);
            s = TcpState::kSynSent;
          }
        } else if (f & kTcpAck) {
          s = TcpState::kEstablished;
        }
      }
      if (f & kTcpFin) {
        e.flags |= dir == FlowDir::kToServer ? Entry::kFinToServer : Entry::kFinToClient;
        if ((e.flags & Entry::kFinToServer) && (e.flags & Entry::kFinToClient)) {
          s = TcpState::kClosed;
        } else if (s != TcpState::kClosed) {
          s = TcpState::kHalfClosed;
        }
      }
    }
    return s;
  }

  // Room for a new flow in a full table. Connections that never proved themselves go first:
  // closing ones, then those picked up mid-stream, then half-open handshakes (a SYN flood
  // recycles its own entries), then half-closed ones; an established session only when
  // nothing else is left. Within a class, the one idle longest.
  template <class OnEnd>
  void evictOldest(OnEnd&& on_end) {
    for (uint8_t c :
         {kClassClosing, kClassMidstream, kClassHandshake, kClassHalfClosed, kClassEstablished}) {
      if (lists_[c].head != kNil) {
        endAt(lists_[c].head, EndReason::kEvicted, on_end);
        return;
      }
    }
  }

  template <class OnEnd>
  void endAt(uint32_t idx, EndReason reason, OnEnd&& on_end) {
    Entry& e = entries_[idx];
    on_end(e, reason);
    if (e.flags & Entry::kMidstream) --midstream_;
    counters_.dec(Counter::kFlowsActive);
    if (reason == EndReason::kTimeout) counters_.inc(Counter::kFlowsTimedOut);
    if (reason == EndReason::kEvicted) counters_.inc(Counter::kFlowsEvicted);
    e.stream[0].release(pool_);
    e.stream[1].release(pool_);
    removeBucket(e.key, idx);
    unlink(classOf(e), idx);
    e.flags = 0;
    e.lru_next = free_head_;
    free_head_ = idx;
    --size_;
  }

  // Backward-shift deletion (Knuth 6.4, Algorithm R): later entries of the probe run move up
  // into the hole unless that would put them before their home bucket.
  void removeBucket(const FlowKey& key, uint32_t idx) {
    uint32_t i = hashFlowKey(key, seed_) & mask_;
    while (buckets_[i].idx != idx) i = (i + 1) & mask_;
    uint32_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      if (buckets_[j].idx == kNil) break;
      const uint32_t home = buckets_[j].hash & mask_;
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      buckets_[i] = buckets_[j];
      i = j;
    }
    buckets_[i] = {0, kNil};
  }

  void append(uint8_t c, uint32_t idx) {
    List& l = lists_[c];
    Entry& e = entries_[idx];
    e.lru_prev = l.tail;
    e.lru_next = kNil;
    if (l.tail != kNil) {
      entries_[l.tail].lru_next = idx;
    } else {
      l.head = idx;
    }
    l.tail = idx;
  }
  void unlink(uint8_t c, uint32_t idx) {
    List& l = lists_[c];
    Entry& e = entries_[idx];
    if (e.lru_prev != kNil) {
      entries_[e.lru_prev].lru_next = e.lru_next;
    } else {
      l.head = e.lru_next;
    }
    if (e.lru_next != kNil) {
      entries_[e.lru_next].lru_prev = e.lru_prev;
    } else {
      l.tail = e.lru_prev;
    }
  }

  const uint32_t capacity_;
  const uint16_t table_id_;
  const uint64_t seed_;
  const StreamPools pool_;
  CounterBlock& counters_;
  uint32_t mask_ = 0;
  PlacedArray<Entry> entries_;
  PlacedArray<Bucket> buckets_;
  std::array<List, kClassCount> lists_{};
  std::array<uint32_t, kClassCount> timeout_ms_{};
  uint32_t free_head_ = kNil;
  uint32_t size_ = 0;
  uint32_t midstream_ = 0;  // live entries picked up mid-stream
  uint32_t midstream_budget_ = 0;
  uint64_t clock_ms_ = 0;
  uint32_t next_serial_ = 0;
};

}  // namespace smtpguard
