#include "control/rpc/codec.h"

#include <boost/json.hpp>

#include "common/json_text.h"
#include "telemetry/trace.h"

namespace aion::control::rpc {
namespace json = boost::json;

namespace {

std::string text(const json::value& v) {
  return v.is_null() ? std::string() : jsonText(v);
}

// As deep as a client may nest JSON (a gateway passes it on).
json::value parseJson(const std::string& s, boost::system::error_code& ec) {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  return json::parse(s, ec, {}, opts);
}

Result<json::value> parsed(const std::string& s, const char* what) {
  if (s.empty()) return json::value();
  boost::system::error_code ec;
  auto v = parseJson(s, ec);
  if (ec) return fail(ErrorCode::kInternal, std::string("control plane sent bad JSON in ") + what);
  return v;
}

std::unexpected<Error> badAnswer(const std::string& what) {
  return fail(ErrorCode::kInternal, "control plane sent " + what);
}

}  // namespace

void toProto(const Principal& p, pb::Principal* out) {
  out->set_key_id(p.keyId);
  out->set_roles(p.roles);
  out->set_tenant(p.tenant);
}

Principal fromProto(const pb::Principal& p) {
  // A role bit aionOS does not know means a peer it does not understand:
  // no rights at all, rather than a truncation that could grant some.
  constexpr uint32_t kKnown = roleBit(Role::kAdmin) | roleBit(Role::kManager) |
                              roleBit(Role::kUser) | roleBit(Role::kViewer);
  RoleSet roles = (p.roles() & ~kKnown) ? 0 : static_cast<RoleSet>(p.roles());
  return {.keyId = p.key_id(), .roles = roles, .tenant = p.tenant()};
}

void toProto(const SubmitRequest& r, pb::SubmitRequest* out) {
  toProto(r.principal, out->mutable_principal());
  out->set_intent(r.intent);
  out->set_params_json(text(r.params));
  if (r.privacy) out->set_privacy(std::string(policy::privacyName(*r.privacy)));
  if (r.budgetUsd) out->set_budget_usd(*r.budgetUsd);
  if (r.timeoutMs) out->set_timeout_ms(*r.timeoutMs);
  out->set_surface(r.surface);
  out->set_trace_id(r.traceId);
  out->set_parent_span_id(r.parentSpanId);
  out->set_sampled(r.sampled);
  out->set_trace_state(r.traceState);
  out->set_route(r.route);
  out->set_behind(r.behind);
  out->set_attached(r.attached);
  out->set_follow_from_admission(r.followFromAdmission);
}

Result<SubmitRequest> fromProto(const pb::SubmitRequest& r) {
  SubmitRequest out;
  out.principal = fromProto(r.principal());
  out.intent = r.intent();
  auto params = parsed(r.params_json(), "params");
  if (!params) return std::unexpected(params.error());
  out.params = std::move(*params);
  if (!r.privacy().empty()) {
    out.privacy = policy::parsePrivacy(r.privacy());
    if (!out.privacy) return fail(ErrorCode::kInvalidRequest, "unknown privacy mode");
  }
  if (r.has_budget_usd()) out.budgetUsd = r.budget_usd();
  if (r.has_timeout_ms()) out.timeoutMs = r.timeout_ms();
  out.surface = r.surface();
  out.traceId = r.trace_id();
  out.parentSpanId = r.parent_span_id();
  out.sampled = r.sampled();
  // Checked again: the control plane trusts no header a gateway passes on.
  out.traceState = telemetry::parseTracestate(r.trace_state()).value_or("");
  out.route = r.route();
  out.behind = r.behind();
  out.attached = r.attached();
  out.followFromAdmission = r.follow_from_admission();
  return out;
}

void toProto(const store::Task& t, pb::Task* out) {
  out->set_id(t.id);
  out->set_tenant(t.tenant);
  out->set_key_id(t.keyId);
  out->set_intent(t.intent);
  out->set_surface(t.surface);
  out->set_trace_id(t.traceId);
  out->set_params_json(text(t.params));
  out->set_status(std::string(store::statusName(t.status)));
  out->set_route_json(text(t.route));
  out->set_result_json(text(t.result));
  out->set_error_json(text(t.error));
  out->set_cost_usd(t.costUsd);
  out->set_cost_estimated(t.costEstimated);
  out->set_attempts(t.attempts);
  out->set_cancel_requested(t.cancelRequested);
  out->set_created_ms(t.createdMs);
  out->set_started_ms(t.startedMs);
  out->set_finished_ms(t.finishedMs);
  out->set_deadline_ms(t.deadlineMs);
  out->set_last_seq(t.lastSeq);
  out->set_upstream_us(t.upstreamUs);
  out->set_overhead_us(t.overheadUs);
}

Result<store::Task> fromProto(const pb::Task& t) {
  store::Task out;
  auto status = store::parseStatus(t.status());
  if (!status) return fail(ErrorCode::kInternal, "control plane sent unknown status " + t.status());
  auto params = parsed(t.params_json(), "params");
  auto route = parsed(t.route_json(), "route");
  auto result = parsed(t.result_json(), "result");
  auto error = parsed(t.error_json(), "error");
  for (auto* r : {&params, &route, &result, &error})
    if (!*r) return std::unexpected(r->error());
  out.id = t.id();
  out.tenant = t.tenant();
  out.keyId = t.key_id();
  out.intent = t.intent();
  out.surface = t.surface();
  out.traceId = t.trace_id();
  out.params = std::move(*params);
  out.status = *status;
  out.route = std::move(*route);
  out.result = std::move(*result);
  out.error = std::move(*error);
  out.costUsd = t.cost_usd();
  out.costEstimated = t.cost_estimated();
  out.attempts = t.attempts();
  out.cancelRequested = t.cancel_requested();
  out.createdMs = t.created_ms();
  out.startedMs = t.started_ms();
  out.finishedMs = t.finished_ms();
  out.deadlineMs = t.deadline_ms();
  out.lastSeq = t.last_seq();
  out.upstreamUs = t.upstream_us();
  out.overheadUs = t.overhead_us();
  return out;
}

void toProto(const store::Event& e, pb::Event* out) {
  out->set_task_id(e.taskId);
  out->set_seq(e.seq);
  out->set_type(e.type);
  out->set_ts_ms(e.tsMs);
  out->set_data_json(text(e.data));
}

Result<store::Event> fromProto(const pb::Event& e) {
  auto data = parsed(e.data_json(), "event data");
  if (!data) return std::unexpected(data.error());
  return store::Event{
      .taskId = e.task_id(), .seq = e.seq(), .type = e.type(), .tsMs = e.ts_ms(), .data = *data};
}

void toProto(const ModelEntry& m, pb::Model* out) {
  out->set_id(m.id);
  out->set_intent(m.intent);
  out->set_route(m.route);
  out->set_owned_by(m.ownedBy);
  for (auto& a : m.aliases) out->add_aliases(a);
  out->set_unavailable(m.unavailable);
}

ModelEntry fromProto(const pb::Model& m) {
  return {.id = m.id(),
          .intent = m.intent(),
          .route = m.route(),
          .ownedBy = m.owned_by(),
          .aliases = {m.aliases().begin(), m.aliases().end()},
          .unavailable = m.unavailable()};
}

void toProto(const IndexRequest& r, pb::IndexDocumentsRequest* out) {
  toProto(r.principal, out->mutable_principal());
  out->set_collection(r.collection);
  for (auto& d : r.documents) {
    auto* m = out->add_documents();
    m->set_id(d.id);
    m->set_text(d.text);
    if (!d.metadata.empty()) m->set_metadata_json(jsonText(d.metadata));
  }
}

Result<IndexRequest> fromProto(const pb::IndexDocumentsRequest& r) {
  IndexRequest out;
  out.principal = fromProto(r.principal());
  out.collection = r.collection();
  if (auto st = checkCollectionName(out.collection); !st) return std::unexpected(st.error());
  // The count first: nothing is parsed for a request too large anyway.
  DocumentLimits limits;
  if (static_cast<size_t>(r.documents_size()) > limits.maxDocuments)
    return fail(ErrorCode::kPayloadTooLarge, "at most " + std::to_string(limits.maxDocuments) +
                                                 " documents per request (got " +
                                                 std::to_string(r.documents_size()) + ")");
  out.documents.reserve(r.documents_size());
  for (int i = 0; i < r.documents_size(); ++i) {
    const auto& d = r.documents(i);
    Document doc{.id = d.id(), .text = d.text(), .metadata = {}};
    if (!d.metadata_json().empty()) {
      std::string at = "documents[" + std::to_string(i) + "].metadata";
      if (d.metadata_json().size() > limits.maxMetadataBytes)
        return fail(
            ErrorCode::kPayloadTooLarge,
            at + " is larger than " + std::to_string(limits.maxMetadataBytes) + " bytes as JSON");
      boost::system::error_code ec;
      auto m = parseJson(d.metadata_json(), ec);
      if (ec || !m.is_object())
        return fail(ErrorCode::kInvalidRequest, at + " must be a JSON object");
      doc.metadata = std::move(m.as_object());
    }
    out.documents.push_back(std::move(doc));
  }
  if (auto st = checkDocuments(out.documents, limits); !st) return std::unexpected(st.error());
  return out;
}

void toProto(const IndexedDocuments& r, pb::IndexedDocuments* out) {
  out->set_collection(r.collection);
  for (auto& id : r.documents) out->add_documents(id);
  out->set_chunks(r.chunks);
  out->set_dim(r.dim);
  out->set_embed_module(r.embedModule);
  out->set_engine(r.engine);
}

Result<IndexedDocuments> fromProto(const pb::IndexedDocuments& r) {
  if (!checkCollectionName(r.collection())) return badAnswer("a bad collection name");
  if (r.dim() <= 0) return badAnswer("a non-positive dimension");
  if (r.documents().empty() || r.chunks() < static_cast<uint64_t>(r.documents_size()))
    return badAnswer("fewer chunks than documents");
  return IndexedDocuments{.collection = r.collection(),
                          .documents = {r.documents().begin(), r.documents().end()},
                          .chunks = r.chunks(),
                          .dim = r.dim(),
                          .embedModule = r.embed_module(),
                          .engine = r.engine()};
}

void toProto(const CollectionList& l, pb::CollectionList* out) {
  for (auto& c : l.items) {
    auto* m = out->add_items();
    m->set_name(c.name);
    m->set_dim(c.dim);
    m->set_chunks(c.chunks);
  }
  out->set_engine(l.engine);
}

Result<CollectionList> fromProto(const pb::CollectionList& l) {
  CollectionList out{.items = {}, .engine = l.engine()};
  for (auto& c : l.items()) {
    if (!checkCollectionName(c.name())) return badAnswer("a bad collection name");
    if (c.dim() < 0) return badAnswer("a negative dimension");
    out.items.push_back(CollectionSummary{.name = c.name(), .dim = c.dim(), .chunks = c.chunks()});
  }
  return out;
}

Result<std::string> collectionOf(const pb::DeleteCollectionRequest& r) {
  if (auto st = checkCollectionName(r.collection()); !st) return std::unexpected(st.error());
  return r.collection();
}

grpc::Status toStatus(const Error& e) {
  // The gRPC code only matters to tooling; the gateway reads the details.
  auto code = e.code == ErrorCode::kNotFound      ? grpc::StatusCode::NOT_FOUND
              : e.code == ErrorCode::kUnavailable ? grpc::StatusCode::UNAVAILABLE
                                                  : grpc::StatusCode::FAILED_PRECONDITION;
  return grpc::Status(code, e.message, jsonText(toJson(e)));
}

Error fromStatus(const grpc::Status& st, const std::string& who) {
  if (!st.error_details().empty()) {
    boost::system::error_code ec;
    auto v = json::parse(st.error_details(), ec);
    if (!ec && v.is_object()) {
      auto& o = v.as_object();
      auto* code = o.if_contains("code");
      auto parsedCode =
          code && code->is_string() ? parseErrorCode(code->as_string()) : std::nullopt;
      if (parsedCode) {
        Error e(*parsedCode, st.error_message());
        if (auto* d = o.if_contains("details"); d && d->is_object()) e.details = d->as_object();
        return e;
      }
    }
  }
  if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    return Error(ErrorCode::kTimeout, who + " did not answer in time");
  if (st.error_code() == grpc::StatusCode::CANCELLED)
    return Error(ErrorCode::kCanceled, "the call to " + who + " was canceled");
  return Error(ErrorCode::kUnavailable, who + " is unavailable: " + st.error_message());
}

}  // namespace aion::control::rpc
