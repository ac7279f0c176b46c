#include "common/error.h"

namespace aion {

std::string_view errorCodeName(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidRequest:
      return "invalid_request";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kPayloadTooLarge:
      return "payload_too_large";
    case ErrorCode::kHeadersTooLarge:
      return "headers_too_large";
    case ErrorCode::kUnknownIntent:
      return "unknown_intent";
    case ErrorCode::kInvalidParams:
      return "invalid_params";
    case ErrorCode::kNoRoute:
      return "no_route";
    case ErrorCode::kInvalidPolicy:
      return "invalid_policy";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kCanceled:
      return "canceled";
    case ErrorCode::kModuleFailed:
      return "module_failed";
    case ErrorCode::kProviderError:
      return "provider_error";
    case ErrorCode::kBudgetExceeded:
      return "budget_exceeded";
    case ErrorCode::kModuleRefused:
      return "module_refused";
    case ErrorCode::kInterrupted:
      return "interrupted";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

int httpStatus(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidRequest:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kCanceled:
      return 499;  // nginx's "client closed request": the client went away or asked to stop
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kHeadersTooLarge:
      return 431;
    case ErrorCode::kUnknownIntent:
    case ErrorCode::kInvalidParams:
    case ErrorCode::kNoRoute:
    case ErrorCode::kInvalidPolicy:
    case ErrorCode::kModuleRefused:
      return 422;
    case ErrorCode::kRateLimited:
      return 429;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kModuleFailed:
    case ErrorCode::kProviderError:
      return 502;
    case ErrorCode::kBudgetExceeded:
      return 402;
    case ErrorCode::kInterrupted:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::optional<ErrorCode> parseErrorCode(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i)
    if (errorCodeName(static_cast<ErrorCode>(i)) == name) return static_cast<ErrorCode>(i);
  return std::nullopt;
}

boost::json::object toJson(const Error& e) {
  return {{"code", errorCodeName(e.code)}, {"message", e.message}, {"details", e.details}};
}

}  // namespace aion
