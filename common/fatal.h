#pragma once

// What a process says as it halts on an error it can't serve past.
#include <string>
#include <string_view>

namespace trib::log {

// Where a fatal error's reason goes besides the log: Kubernetes shows the file at a
// container's terminationMessagePath (/dev/termination-log unless the pod says otherwise; the
// kubelet creates it) as the message of the container's last termination, in the pod's status
// and `kubectl describe pod`, and the operator reads it from there. Empty: nowhere.
void set_termination_message_path(std::string path);
// Logs `why` as an error and, when the termination message file exists, writes it there (the
// first 4 KiB, what the kubelet keeps). Best effort: a file that can't be written is skipped.
// Then flushes the log. For the moment before a process halts.
void fatal(std::string_view why);

} // namespace trib::log
