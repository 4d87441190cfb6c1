#include "common/live/process.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/flags/parse.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/sinks/rotating_file_sink.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

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

void InstallProcessLogger(const std::string& program, const std::string& name,
                          const std::string& log_file, int max_megabytes,
                          int max_files) {
  std::shared_ptr<spdlog::logger> logger;
  if (log_file.empty()) {
    logger = spdlog::stderr_color_mt(name);
  } else {
    if (max_megabytes <= 0 || max_files < 0 || max_files > 100) {
      FailSetup(program, absl::StrCat("--log_max_mb must be > 0 and "
                                      "--log_max_files 0..100, got ",
                                      max_megabytes, " and ", max_files));
    }
    try {
      logger = spdlog::rotating_logger_mt(
          name, log_file, static_cast<size_t>(max_megabytes) << 20,
          static_cast<size_t>(max_files));
    } catch (const spdlog::spdlog_ex& e) {
      FailSetup(program, absl::StrCat("cannot open --log_file=", log_file, ": ",
                                      e.what()));
    }
    // Every line reaches the file at once, as on (unbuffered) stderr: scripts
    // and tests wait for log lines.
    logger->flush_on(spdlog::level::trace);
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

}  // namespace seqsim
