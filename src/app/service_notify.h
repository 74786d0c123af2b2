#pragma once
// systemd's readiness protocol (sd_notify(3)) for Type=notify: READY=1 once the ports are up
// and the policy is loaded, RELOADING=1 ... READY=1 around a policy reload, STOPPING=1 on the
// way out, and STATUS= lines that `systemctl status` shows. Without $NOTIFY_SOCKET (not run by
// systemd) every call does nothing. Control plane, main lcore only.

#include <string>

namespace smtpguard {

void notifyReady(const std::string& status);
void notifyReloading();
void notifyStopping();
void notifyStatus(const std::string& status);

}  // namespace smtpguard
