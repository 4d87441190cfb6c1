// Process helpers shared by the seqsim binaries: fail-fast exits, flag-parse
// exit codes, termination signals.
#ifndef SEQSIM_COMMON_LIVE_PROCESS_H_
#define SEQSIM_COMMON_LIVE_PROCESS_H_

#include <string>
#include <vector>

namespace seqsim {

// Exit code of every fail-fast error: bad flag value, busy port, unusable data
// dir.
inline constexpr int kExitBadSetup = 2;

// Prints "<program>: <message>" on one line to stderr and exits with
// kExitBadSetup.
[[noreturn]] void FailSetup(const std::string& program,
                            const std::string& message);

// Parses absl flags (and --help) from argv. A flag Abseil cannot parse (unknown
// flag, a value of the wrong type) prints Abseil's message, then "<program>:
// bad flag; --help lists the flags" and exits with kExitBadSetup. Returns the
// positional arguments (argv[0] first).
std::vector<char*> ParseFlagsOrExit(const std::string& program, int argc,
                                    char** argv);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and every thread it
// starts later (call first thing in main), and ignores SIGPIPE.
void BlockTerminationSignals();
// Waits for SIGTERM, SIGINT or SIGHUP; returns its number.
int WaitForTerminationSignal();

// Makes spdlog's default logger, named `name`, with seqsim's line pattern and a
// flush every second: to stderr when `log_file` is empty, else to `log_file`
// rotated at `max_bytes` (the file becomes `<stem>.1<ext>`, and so on), with
// `max_files` rotated files kept. Call FailSetup on an error.
void InstallProcessLogger(const std::string& program, const std::string& name,
                          const std::string& log_file, int max_megabytes,
                          int max_files);

// Turns off Abseil's mutex deadlock detection (call first thing in main).
// Debian builds Abseil without NDEBUG, so every absl::Mutex lock, gRPC's own
// included, records lock-order edges in a global graph: a few per cent of a
// node's CPU under load (issue 15). The lab and the tests keep it on.
void DisableMutexDeadlockDetection();

// When the process runs on tcmalloc (seqsim-node and seqsim-coordinator link it
// where libgoogle-perftools-dev is installed), asks it to return freed spans to
// the kernel at once. Bulk loads allocate and free in bursts: tcmalloc is ~1.2x
// faster than glibc malloc there, and with this setting keeps the same RSS
// (without it, ~30% more). Returns false (and does nothing) under glibc
// malloc. Call first thing in main.
bool UseLeanAllocator();

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_PROCESS_H_
