#include "app/service_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

namespace smtpguard {
namespace {

void send(const std::string& state) {
  // 0: keep $NOTIFY_SOCKET, so every later state reaches systemd too. A failure to notify is
  // not ours to act on: systemd times the service out if READY never arrives.
  (void)sd_notify(0, state.c_str());
}

}  // namespace

void notifyReady(const std::string& status) {
  send("READY=1\nSTATUS=" + status);
}

void notifyReloading() {
  // MONOTONIC_USEC pairs RELOADING=1 with the reload (systemd 253's Type=notify-reload wants
  // it; 252 ignores it).
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
                                  static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
  send("RELOADING=1\nSTATUS=reloading the policy\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notifyStopping() {
  send("STOPPING=1\nSTATUS=stopping: ending open flows, writing the final counters");
}

void notifyStatus(const std::string& status) {
  send("STATUS=" + status);
}

}  // namespace smtpguard
