#pragma once
// Errors are values on request paths (STYLE.md §5). One code maps to one HTTP
// status and one gRPC status; the wire body is DESIGN.md §7.
#include <boost/json/object.hpp>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace aion {

enum class ErrorCode {
  kInvalidRequest,   // 400
  kUnauthenticated,  // 401
  kForbidden,        // 403
  kNotFound,         // 404
  kConflict,         // 409
  kPayloadTooLarge,  // 413
  kHeadersTooLarge,  // 431
  kUnknownIntent,    // 422
  kInvalidParams,    // 422
  kNoRoute,          // 422
  kInvalidPolicy,    // 422
  kRateLimited,      // 429
  kUnavailable,      // 503
  kTimeout,          // 504 for sync paths; tasks record it as their error
  kCanceled,         // 499 (client closed request) on sync paths; tasks record it
  kModuleFailed,     // 502: the module ran and failed
  kProviderError,    // 502: the model provider answered with an error or garbage
  kBudgetExceeded,   // 402: the spend would pass a budget
  kModuleRefused,    // 422: a module failed verification (digest, signature, SBOM)
  kInterrupted,      // the process stopped while the task ran
  kInternal,         // 500
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  boost::json::object details;

  Error() = default;
  Error(ErrorCode c, std::string msg, boost::json::object d = {})
      : code(c), message(std::move(msg)), details(std::move(d)) {}
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorCode c, std::string msg, boost::json::object d = {}) {
  return std::unexpected<Error>(Error(c, std::move(msg), std::move(d)));
}

//! Stable snake_case identifier used on the wire ("invalid_request", ...).
std::string_view errorCodeName(ErrorCode c);
std::optional<ErrorCode> parseErrorCode(std::string_view name);
int httpStatus(ErrorCode c);
//! The error as `{"code","message","details"}`.
boost::json::object toJson(const Error& e);

}  // namespace aion
