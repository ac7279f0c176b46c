#pragma once
// The seam between the gateway and the control plane (DESIGN.md §2). In the
// embedded profile the gateway calls ControlService in-process; a gRPC
// client implementing this interface connects separate processes. Calls are
// coroutines: none blocks the calling thread.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/principal.h"
#include "control/collections.h"
#include "events/follower.h"
#include "policy/policy.h"
#include "store/task.h"
#include "store/usage.h"

namespace aion::control {

struct SubmitRequest {
  Principal principal;
  std::string intent;
  boost::json::value params;
  std::optional<policy::PrivacyMode> privacy;
  std::optional<double> budgetUsd;
  std::optional<int> timeoutMs;  // may only shorten the intent's timeout
  std::string surface = "rest";  // rest | websocket | grpc | openai
  std::string traceId;           // W3C trace id (empty: a new trace)
  std::string parentSpanId;      // the span the task's span hangs under
  bool sampled = false;          // the trace's sampled flag
  std::string traceState;        // the caller's W3C tracestate, passed on to every hop
  //! Only this route may serve the task ("model:NAME" or "module:NAME"),
  //! still subject to privacy, allowlists and budget; empty: policy decides.
  std::string route;
  //! Written behind instead of stored before it runs (the OpenAI-compatible
  //! API with AION_DURABILITY=async).
  bool behind = false;
  //! The submitter follows the task to its end (an OpenAI call, a submission
  //! that streams): it starts in the same write that stores it when it can.
  bool attached = false;
  //! With attached: the submitter follows from the first event after its
  //! admission (the OpenAI surfaces answer from deltas, attempts, the result
  //! and done; the route and first status events are neither copied to them
  //! nor sent over the internal gRPC hop).
  bool followFromAdmission = false;
};

//! A model clients may name (the OpenAI-compatible `model`): one route of
//! an intent, or "auto" for the policy's choice.
struct ModelEntry {
  std::string id{};                    // what clients send as `model`
  std::string intent{};                // chat | embed
  std::string route{};                 // "model:NAME", "module:NAME"; empty for auto
  std::string ownedBy{};               // provider, or "aionos"
  std::vector<std::string> aliases{};  // "provider/upstream-model"
  std::string unavailable{};           // why it cannot serve now; empty when it can
};

//! The model `name` (id or alias) of `intent` (any intent when empty):
//! kNotFound (details.openaiCode model_not_found) when no such model,
//! kInvalidRequest when it serves another intent.
Result<ModelEntry> findModel(const std::vector<ModelEntry>& models, const std::string& name,
                             const std::string& intent);

//! A task submitted with its follower, from its first event.
struct Attached {
  store::Task task;  // brief, as submit returns it
  std::unique_ptr<events::Follower> follower;
};

//! What a gateway asks of the control plane. The control plane's own
//! operations (policies, modules, usage, routing dry runs) are served by the
//! control role's HTTP API and are not part of this seam; collections are,
//! because users index and list them through the gateway.
class ControlApi {
 public:
  virtual ~ControlApi() = default;
  using Awaitable = boost::asio::awaitable<Result<store::Task>>;

  //! Validates, routes and stores a task (durably unless req.behind), then
  //! runs or queues it. Errors: kForbidden, kUnknownIntent, kInvalidParams,
  //! kInvalidRequest, kNoRoute, kUnavailable (queue full, store down).
  //! The task comes back brief: no params, plan, result or error.
  virtual Awaitable submit(SubmitRequest req) = 0;
  //! kNotFound also when the task belongs to another tenant.
  virtual Awaitable get(Principal who, std::string id) = 0;
  virtual boost::asio::awaitable<Result<store::TaskPage>> list(Principal who,
                                                               store::ListQuery q) = 0;
  //! Cancels a queued task at once; asks a running one to stop (it ends
  //! canceled). kConflict when already finished. `reason` is recorded.
  virtual Awaitable cancel(Principal who, std::string id, std::string reason) = 0;
  //! Follows a task's events after `afterSeq` (tenant-checked like get).
  virtual boost::asio::awaitable<Result<std::unique_ptr<events::Follower>>> follow(
      Principal who, std::string id, int64_t afterSeq) = 0;
  //! submit (attached) then follow from the first event: what every surface
  //! that streams or waits for its own task does. One round trip instead of
  //! two when the control plane is remote; submit's errors, or follow's
  //! (the task then runs unfollowed, as after a follow that fails).
  virtual boost::asio::awaitable<Result<Attached>> submitAttached(SubmitRequest req);
  //! The models clients may name, from the policy set in force, with why
  //! each cannot serve now (if so).
  virtual std::vector<ModelEntry> models() = 0;
  //! One model by id or alias, for `intent` (findModel's errors).
  virtual Result<ModelEntry> model(const std::string& name, const std::string& intent) = 0;
  //! Readiness and its checks, from state refreshed in the background: it
  //! never waits on the store or the network.
  virtual std::pair<bool, boost::json::object> readiness() = 0;

  // Collections (docs/retrieval.md). Always the principal's tenant's; each
  // checks the role (authorizeCollections) and the name itself.

  //! Validates (checkDocuments), embeds and stores the documents; a
  //! document indexed again replaces its chunks. kForbidden,
  //! kInvalidRequest, kInvalidParams, kPayloadTooLarge, kConflict (another
  //! embedding dimension), kUnavailable (no vector index, too many indexing
  //! at once, the engine down).
  virtual boost::asio::awaitable<Result<IndexedDocuments>> indexDocuments(IndexRequest req) = 0;
  virtual boost::asio::awaitable<Result<CollectionList>> listCollections(Principal who) = 0;
  //! Deletes a collection and its documents. kNotFound when there is none.
  virtual boost::asio::awaitable<Status> deleteCollection(Principal who,
                                                          std::string collection) = 0;
};

}  // namespace aion::control
