#pragma once
#include <mutex>

#include "policy/policy.h"

namespace aion::control {

//! Holds the policy snapshot in force. Readers keep the snapshot they got for
//! the whole request; a reload swaps the pointer.
class PolicyStore {
 public:
  explicit PolicyStore(policy::PolicySetPtr initial) : current_(std::move(initial)) {}
  policy::PolicySetPtr current() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void swap(policy::PolicySetPtr next) {
    std::lock_guard lock(mu_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  policy::PolicySetPtr current_;
};

}  // namespace aion::control
