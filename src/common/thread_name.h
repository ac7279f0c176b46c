#pragma once
// Names the calling thread so that `top -H`, `perf` and /proc show what each
// of aiond's threads is for. Linux keeps 15 characters.
#include <pthread.h>

namespace aion {

inline void nameThisThread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

}  // namespace aion
