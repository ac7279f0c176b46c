// Minimal native module (ABI v1): copies stdin to stdout. Inputs starting
// with {"reject" exit 2 with an invalid_input error, {"exit3" exit 3 after a
// line on stderr, {"garbage" write something that is not JSON.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  size_t cap = 1 << 16, len = 0;
  char* buf = malloc(cap);
  ssize_t n;
  while (buf && (n = read(0, buf + len, cap - len)) > 0) {
    len += (size_t)n;
    if (len == cap) buf = realloc(buf, cap *= 2);
  }
  if (!buf) return 1;
  if (len >= 8 && memcmp(buf, "{\"reject", 8) == 0) {
    fputs("{\"error\":{\"code\":\"invalid_input\",\"message\":\"text is required\"}}", stdout);
    return 2;
  }
  if (len >= 7 && memcmp(buf, "{\"exit3", 7) == 0) {
    fputs("echo: failing on purpose\n", stderr);
    return 3;
  }
  if (len >= 9 && memcmp(buf, "{\"garbage", 9) == 0) {
    fputs("not json", stdout);
    return 0;
  }
  for (size_t off = 0; off < len;) {
    n = write(1, buf + off, len - off);
    if (n <= 0) return 1;
    off += (size_t)n;
  }
  return 0;
}
