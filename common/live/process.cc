#include "common/live/process.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/flags/parse.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"

// gperftools' C interface, resolved only when tcmalloc is linked or preloaded.
extern "C" int MallocExtension_SetNumericProperty(const char* property,
                                                  size_t value)
    __attribute__((weak));

namespace seqsim {
namespace {

std::atomic<bool> parsing_flags{false};
char program_name[128];

// Abseil exits the process on a flag it cannot parse; this turns that exit into
// a one-line hint and kExitBadSetup.
void OnExitWhileParsing() {
  if (!parsing_flags.load()) return;
  std::fprintf(stderr, "%s: bad flag; --help lists the flags\n", program_name);
  std::fflush(stderr);
  ::_exit(kExitBadSetup);
}

bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--help", 6) == 0 ||
        std::strncmp(argv[i], "-help", 5) == 0 ||
        std::strcmp(argv[i], "--version") == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

void FailSetup(const std::string& program, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str());
  std::fflush(stderr);
  ::_exit(kExitBadSetup);
}

std::vector<char*> ParseFlagsOrExit(const std::string& program, int argc,
                                    char** argv) {
  std::snprintf(program_name, sizeof(program_name), "%s", program.c_str());
  // --help lists the flags defined in the binary's *_main.cc.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "_main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  const bool help = AsksForHelp(argc, argv);
  if (!help) {
    std::atexit(OnExitWhileParsing);
    parsing_flags = true;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  parsing_flags = false;
  return positional;
}

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

bool UseLeanAllocator() {
  return MallocExtension_SetNumericProperty != nullptr &&
         MallocExtension_SetNumericProperty(
             "tcmalloc.aggressive_memory_decommit", 1) != 0;
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  return signal_number;
}

}  // namespace seqsim
