#include "common/live/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

namespace seqsim {
namespace {

constexpr char kUuidAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kUuidLength = 22;
constexpr size_t kMinSecretHexDigits = 32;  // 128 bits
constexpr size_t kMaxSecretHexDigits = 128;

absl::Status RandomBytes(unsigned char* out, size_t n) {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open /dev/urandom: ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::read(fd, out + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      ::close(fd);
      return absl::InternalError("cannot read /dev/urandom");
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  return absl::OkStatus();
}

bool ValidUuid(absl::string_view uuid) {
  if (uuid.size() != kUuidLength) return false;
  for (char c : uuid) {
    if (std::strchr(kUuidAlphabet, c) == nullptr || c == '\0') return false;
  }
  return true;
}

bool ValidSecret(absl::string_view secret) {
  if (secret.size() < kMinSecretHexDigits ||
      secret.size() > kMaxSecretHexDigits)
    return false;
  for (char c : secret) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Equal without an early exit, so that the time taken does not tell how much
// of a guessed secret was right.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// What a refused caller claims to be, printable and short (it is attacker
// input).
std::string Printable(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    out.push_back(c >= 0x21 && c <= 0x7e ? c : '?');
  }
  return out.empty() ? "(anonymous)" : out;
}

}  // namespace

absl::StatusOr<ClusterIdentity> NewClusterIdentity() {
  unsigned char bytes[16 + 32];
  if (absl::Status status = RandomBytes(bytes, sizeof(bytes)); !status.ok())
    return status;
  ClusterIdentity identity;
  // 22 characters of 6 bits from the first 16 bytes (132 bits; the last 4
  // come out zero, as in a base64 encoding of 16 bytes).
  int bit = 0;
  for (size_t i = 0; i < kUuidLength; ++i) {
    int value = 0;
    for (int b = 0; b < 6; ++b, ++bit) {
      int byte = bit / 8;
      int set = byte < 16 ? (bytes[byte] >> (7 - bit % 8)) & 1 : 0;
      value = (value << 1) | set;
    }
    identity.cluster_uuid.push_back(kUuidAlphabet[value]);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 16; i < sizeof(bytes); ++i) {
    identity.secret.push_back(kHex[bytes[i] >> 4]);
    identity.secret.push_back(kHex[bytes[i] & 15]);
  }
  return identity;
}

absl::Status WriteClusterIdentity(const ClusterIdentity& identity,
                                  const std::string& path,
                                  const std::string& tls_ca_file,
                                  const std::string& tls_cert_file,
                                  const std::string& tls_key_file) {
  if (!ValidUuid(identity.cluster_uuid) || !ValidSecret(identity.secret)) {
    return absl::InvalidArgumentError("not a valid identity");
  }
  const int given =
      !tls_ca_file.empty() + !tls_cert_file.empty() + !tls_key_file.empty();
  if (given != 0 && given != 3) {
    return absl::InvalidArgumentError(
        "TLS needs all three of the CA, the certificate and the key");
  }
  struct stat info;
  if (::stat(path.c_str(), &info) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        path,
        " exists; a cluster keeps its identity (remove it to make a "
        "new cluster)"));
  }
  std::string text = absl::StrCat(
      "# seqsim cluster identity: every internal gRPC call presents it.\n"
      "# Keep it secret (mode 0600); copy it to every host of the cluster.\n"
      "cluster_uuid=",
      identity.cluster_uuid, "\nsecret=", identity.secret, "\n");
  if (given == 3) {
    absl::StrAppend(&text, "tls_ca=", tls_ca_file, "\ntls_cert=", tls_cert_file,
                    "\ntls_key=", tls_key_file, "\n");
  }
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", temp, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) break;
    done += static_cast<size_t>(wrote);
  }
  const bool ok = done == text.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  int dir = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const ClusterIdentity>> LoadClusterIdentity(
    const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cluster identity ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster identity ", path, " is not a regular file"));
  }
  if ((info.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cluster identity ", path, " is readable by others (mode ",
        absl::StrFormat("%03o", info.st_mode & 0777), "); chmod 600 it"));
  }
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  if (text->size() > 64 * 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster identity ", path, " is too large"));
  }
  auto identity = std::make_shared<ClusterIdentity>();
  identity->path = path;
  std::string ca_file, cert_file, key_file;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    std::string* slot = kv.first == "cluster_uuid" ? &identity->cluster_uuid
                        : kv.first == "secret"     ? &identity->secret
                        : kv.first == "tls_ca"     ? &ca_file
                        : kv.first == "tls_cert"   ? &cert_file
                        : kv.first == "tls_key"    ? &key_file
                                                   : nullptr;
    if (slot == nullptr || !slot->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster identity ", path, " line ", line_number, ": ",
                       slot == nullptr ? "unknown key" : "repeated key", " '",
                       Printable(kv.first), "'"));
    }
    *slot = std::string(absl::StripAsciiWhitespace(kv.second));
  }
  if (!ValidUuid(identity->cluster_uuid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster identity ", path,
                     ": cluster_uuid must be 22 URL-safe base64 characters"));
  }
  if (!ValidSecret(identity->secret)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster identity ", path, ": secret must be ", kMinSecretHexDigits,
        "..", kMaxSecretHexDigits, " hex digits"));
  }
  const int given = !ca_file.empty() + !cert_file.empty() + !key_file.empty();
  if (given != 0 && given != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster identity ", path,
                     ": TLS needs all three of tls_ca, tls_cert and tls_key"));
  }
  if (given == 3) {
    const std::string base = DirName(path);
    std::string* pems[] = {&identity->tls_ca_pem, &identity->tls_cert_pem,
                           &identity->tls_key_pem};
    const std::string* files[] = {&ca_file, &cert_file, &key_file};
    for (int i = 0; i < 3; ++i) {
      std::string file = *files[i];
      if (file[0] != '/') file = absl::StrCat(base, "/", file);
      absl::StatusOr<std::string> pem = ReadWholeFile(file);
      if (!pem.ok() || pem->find("-----BEGIN") == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("cluster identity ", path, ": ", file,
                         pem.ok() ? " is not a PEM file" : " cannot be read"));
      }
      *pems[i] = std::move(*pem);
    }
  }
  return std::shared_ptr<const ClusterIdentity>(std::move(identity));
}

absl::StatusOr<std::shared_ptr<const ClusterIdentity>> IdentityFromFlag(
    const std::string& path) {
  if (path.empty()) return std::shared_ptr<const ClusterIdentity>();
  return LoadClusterIdentity(path);
}

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(
    const ClusterIdentity* identity) {
  if (identity == nullptr || !identity->tls())
    return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = identity->tls_ca_pem;
  options.pem_private_key = identity->tls_key_pem;
  options.pem_cert_chain = identity->tls_cert_pem;
  return grpc::SslCredentials(options);
}

void AddIdentityChannelArgs(const ClusterIdentity* identity,
                            grpc::ChannelArguments* args) {
  if (identity != nullptr && identity->tls())
    args->SetSslTargetNameOverride(kTlsServerName);
}

void AttachIdentity(const ClusterIdentity* identity,
                    grpc::ClientContext* context) {
  if (identity == nullptr) return;
  context->AddMetadata(kClusterMetadataKey, identity->cluster_uuid);
  context->AddMetadata(kSecretMetadataKey, identity->secret);
}

std::shared_ptr<grpc::Channel> NewIdentityChannel(
    const ClusterIdentity* identity, const std::string& address,
    grpc::ChannelArguments args) {
  AddIdentityChannelArgs(identity, &args);
  return grpc::CreateCustomChannel(address, ClientCredentials(identity), args);
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const ClusterIdentity* identity) {
  if (identity == nullptr || !identity->tls())
    return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = identity->tls_ca_pem;
  options.pem_key_cert_pairs.push_back(
      {identity->tls_key_pem, identity->tls_cert_pem});
  return grpc::SslServerCredentials(options);
}

CallAuthenticator::CallAuthenticator(
    std::shared_ptr<const ClusterIdentity> identity, std::string server_id)
    : identity_(std::move(identity)), server_id_(std::move(server_id)) {}

namespace {

absl::string_view Find(const CallAuthenticator::Metadata& metadata,
                       const char* key, bool* found) {
  auto it = metadata.find(key);
  *found = it != metadata.end();
  if (!*found) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

}  // namespace

grpc::Status CallAuthenticator::Check(const Metadata& metadata) {
  if (identity_ == nullptr) return grpc::Status::OK;
  bool has_cluster = false;
  bool has_secret = false;
  bool has_from = false;
  absl::string_view cluster = Find(metadata, kClusterMetadataKey, &has_cluster);
  absl::string_view secret = Find(metadata, kSecretMetadataKey, &has_secret);
  absl::string_view from = Find(metadata, "x-seqsim-from", &has_from);
  const char* reason = nullptr;
  if (!has_cluster || !has_secret) {
    reason = "no cluster credentials";
  } else if (cluster != identity_->cluster_uuid) {
    reason = "credentials of another cluster";
  } else if (!ConstantTimeEquals(secret, identity_->secret)) {
    reason = "a wrong cluster secret";
  }
  if (reason == nullptr) return grpc::Status::OK;
  LogOnce(Printable(from), reason);
  return grpc::Status(
      grpc::StatusCode::UNAUTHENTICATED,
      absl::StrCat(server_id_, " refuses the call: ", reason,
                   " (internal gRPC needs this cluster's identity, "
                   "--cluster_identity)"));
}

void CallAuthenticator::LogOnce(const std::string& peer, const char* reason) {
  {
    absl::MutexLock lock(&mu_);
    if (logged_.size() >= kMaxLoggedPeers) {
      if (overflow_logged_) return;
      overflow_logged_ = true;
      spdlog::warn(
          "{} refuses unauthenticated calls from more than {} peers; further "
          "refusals are not logged",
          server_id_, kMaxLoggedPeers);
      return;
    }
    if (!logged_.insert({peer, reason}).second) return;
  }
  spdlog::warn(
      "{} refuses gRPC calls from {} (UNAUTHENTICATED): {}; logged once per "
      "peer",
      server_id_, peer, reason);
}

}  // namespace seqsim
