#include "common/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace aion {

std::array<unsigned char, 32> sha256(std::string_view data) {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up in its
  // provider store (locks and all) on every digest, several times the hash's
  // own cost for an API key hashed on each request.
  static EVP_MD* const kMd = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Ctx {
    EVP_MD_CTX* p = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(p); }
  };
  thread_local Ctx ctx;
  std::array<unsigned char, 32> md{};
  unsigned int len = 0;
  if (!kMd || !ctx.p || !EVP_DigestInit_ex2(ctx.p, kMd, nullptr) ||
      !EVP_DigestUpdate(ctx.p, data.data(), data.size()) ||
      !EVP_DigestFinal_ex(ctx.p, md.data(), &len) || len != md.size())
    EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
  return md;
}

std::string sha256Hex(std::string_view data) {
  auto md = sha256(data);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(md.size() * 2);
  for (unsigned i = 0; i < md.size(); ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::optional<std::string> readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  try {
    return std::string((std::istreambuf_iterator<char>(in)), {});
  } catch (const std::ios_base::failure&) {
    return std::nullopt;  // libstdc++ throws on a read error, e.g. a directory (EISDIR)
  }
}

bool writeFile(const std::filesystem::path& p, std::string_view bytes, std::filesystem::perms perms,
               bool sync) {
  auto mode = static_cast<mode_t>(perms);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = ::fchmod(fd, mode) == 0;  // an existing file keeps its old mode otherwise
  size_t off = 0;
  while (ok && off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<size_t>(n);
  }
  ok = ok && (!sync || ::fsync(fd) == 0);
  return ::close(fd) == 0 && ok;
}

}  // namespace aion
