#include "common/ids.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace aion {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// The 48-bit millisecond time as the first 10 characters of an id.
std::string timePart(uint64_t t) {
  std::string out(10, '0');
  for (int i = 9; i >= 0; --i) {
    out[i] = kCrockford[t & 31];
    t >>= 5;
  }
  return out;
}

// OpenSSL's generator, drawn 640 bytes at a time per thread: RAND_bytes
// takes its locks and checks for a fork on every call, which cost more
// than the rest of an id (several per request).
void randomBytes(unsigned char* out, size_t n) {
  thread_local std::array<unsigned char, 640> pool{};
  thread_local size_t used = pool.size();
  if (used + n > pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1)
      throw std::runtime_error("RAND_bytes failed");
    used = 0;
  }
  std::memcpy(out, pool.data() + used, n);
  used += n;
}

// Monotonic within the process: an id made in the same millisecond as the
// previous one (or after the clock stepped back) reuses its time and adds one
// to its random part, so ids sort in creation order.
std::string ulid() {
  static std::mutex mu;
  static uint64_t lastMs = 0;
  static std::array<unsigned char, 10> last{};
  std::array<unsigned char, 10> rnd{};
  uint64_t t = static_cast<uint64_t>(nowMs());
  {
    std::lock_guard lock(mu);
    if (t <= lastMs) {
      t = lastMs;
      rnd = last;
      for (int i = 9; i >= 0 && ++rnd[i] == 0; --i) {
      }
    } else {
      randomBytes(rnd.data(), rnd.size());
    }
    lastMs = t;
    last = rnd;
  }
  std::string out = timePart(t);
  out.resize(26, '0');
  // 80 random bits -> 16 chars of 5 bits.
  int bit = 0;
  for (int i = 10; i < 26; ++i) {
    int v = 0;
    for (int b = 0; b < 5; ++b, ++bit) {
      v = (v << 1) | ((rnd[bit / 8] >> (7 - bit % 8)) & 1);
    }
    out[i] = kCrockford[v];
  }
  return out;
}

}  // namespace

std::string newTaskId() {
  return "tsk_" + ulid();
}
std::string taskIdsBefore(int64_t ms) {
  return "tsk_" + timePart(static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
}
std::string newRequestId() {
  return "req_" + ulid();
}

int64_t nowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Calendar arithmetic, not gmtime_r: glibc takes its time-zone lock there.
std::string formatTimeMs(int64_t ms) {
  using namespace std::chrono;
  sys_time<milliseconds> t{milliseconds(ms)};
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss hms{t - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

}  // namespace aion
