// The internal gRPC codec (control/rpc/codec.h) for collections: what a
// gateway sends is checked field by field as the REST API checks it, and
// what a control plane answers is checked too; hostile messages are refused
// with the right code and nothing reaches the index.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>

#include "common/json_text.h"
#include "control/rpc/codec.h"

namespace aion::control::rpc {
namespace {

pb::IndexDocumentsRequest request(std::string collection = "docs") {
  pb::IndexDocumentsRequest m;
  m.mutable_principal()->set_key_id("k1");
  m.mutable_principal()->set_roles(roleBit(Role::kUser));
  m.mutable_principal()->set_tenant("acme");
  m.set_collection(std::move(collection));
  auto* d = m.add_documents();
  d->set_id("a");
  d->set_text("hello world");
  return m;
}

ErrorCode refused(const pb::IndexDocumentsRequest& m) {
  auto r = fromProto(m);
  EXPECT_FALSE(r) << "accepted";
  return r ? ErrorCode::kInternal : r.error().code;
}

std::string nested(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(ControlRpcCodec, IndexRequestRoundTrips) {
  IndexRequest in;
  in.principal.keyId = "k1";
  in.principal.roles = roleBit(Role::kManager);
  in.principal.tenant = "acme";
  in.collection = "howto";
  in.documents.push_back({.id = "bike", .text = "flat tyre", .metadata = {{"lang", "en"}}});
  in.documents.push_back({.id = "b/c.md", .text = "sink", .metadata = {}});
  pb::IndexDocumentsRequest m;
  toProto(in, &m);
  EXPECT_TRUE(m.documents(1).metadata_json().empty());  // {} is not sent
  auto out = fromProto(m);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->principal.tenant, "acme");
  EXPECT_EQ(out->principal.roles, roleBit(Role::kManager));
  EXPECT_EQ(out->collection, "howto");
  ASSERT_EQ(out->documents.size(), 2u);
  EXPECT_EQ(out->documents[0].metadata.at("lang").as_string(), "en");
  EXPECT_EQ(out->documents[1].id, "b/c.md");
  EXPECT_TRUE(out->documents[1].metadata.empty());
}

TEST(ControlRpcCodec, RefusesBadCollectionNames) {
  for (const std::string& bad : std::vector<std::string>{
           "", "Docs", "../etc", "a/b", "a b", std::string(65, 'a'), std::string("a\0b", 3)})
    EXPECT_EQ(refused(request(bad)), ErrorCode::kInvalidRequest) << bad;
  pb::DeleteCollectionRequest del;
  del.set_collection("..");
  EXPECT_FALSE(collectionOf(del));
  del.set_collection("docs");
  EXPECT_EQ(*collectionOf(del), "docs");
}

TEST(ControlRpcCodec, RefusesHostileDocuments) {
  auto with = [](auto edit) {
    auto m = request();
    edit(*m.mutable_documents(0));
    return refused(m);
  };
  using D = pb::Document;
  EXPECT_EQ(with([](D& d) { d.set_id(""); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_id("../../etc/passwd"); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_id(std::string("a\0b", 3)); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_id(std::string(200, 'a')); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_text(std::string("a\0b", 3)); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_text(" \n\t "); }), ErrorCode::kInvalidParams);
  EXPECT_EQ(with([](D& d) { d.set_text(""); }), ErrorCode::kInvalidParams);
  EXPECT_EQ(with([](D& d) { d.set_text(std::string(50001, 'w')); }), ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(with([](D& d) { d.set_metadata_json("{not json"); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_metadata_json("[1]"); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_metadata_json("\"s\""); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(with([](D& d) { d.set_metadata_json("{\"a\":" + nested(100) + "}"); }),
            ErrorCode::kInvalidRequest);  // deeper than any client may nest
  EXPECT_EQ(with([](D& d) { d.set_metadata_json("{\"k\":\"" + std::string(5000, 'v') + "\"}"); }),
            ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(with([](D& d) { d.set_metadata_json("{\"k\":1} trailing"); }),
            ErrorCode::kInvalidRequest);
}

TEST(ControlRpcCodec, RefusesBadDocumentCounts) {
  auto none = request();
  none.clear_documents();
  EXPECT_EQ(refused(none), ErrorCode::kInvalidRequest);
  auto many = request();
  for (int i = 0; i < 100; ++i) {
    auto* d = many.add_documents();
    d->set_id("d" + std::to_string(i));
    d->set_text("t");
  }
  EXPECT_EQ(refused(many), ErrorCode::kPayloadTooLarge);  // 101
  auto twice = request();
  *twice.add_documents() = twice.documents(0);
  EXPECT_EQ(refused(twice), ErrorCode::kInvalidParams);
}

TEST(ControlRpcCodec, AnswersRoundTripAndBadOnesAreInternalErrors) {
  IndexedDocuments done{.collection = "docs",
                        .documents = {"a", "b"},
                        .chunks = 3,
                        .dim = 256,
                        .embedModule = "embed",
                        .engine = "in-process"};
  pb::IndexedDocuments m;
  toProto(done, &m);
  auto back = fromProto(m);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(boost::json::serialize(toJson(*back)), boost::json::serialize(toJson(done)));
  for (auto edit : std::vector<std::function<void(pb::IndexedDocuments&)>>{
           [](auto& x) { x.set_collection("../x"); }, [](auto& x) { x.set_dim(0); },
           [](auto& x) { x.set_dim(-3); }, [](auto& x) { x.set_chunks(1); },
           [](auto& x) { x.clear_documents(); }}) {
    auto bad = m;
    edit(bad);
    auto r = fromProto(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  }

  CollectionList list{.items = {{.name = "docs", .dim = 256, .chunks = 7}}, .engine = "qdrant"};
  pb::CollectionList lm;
  toProto(list, &lm);
  auto lback = fromProto(lm);
  ASSERT_TRUE(lback);
  EXPECT_EQ(boost::json::serialize(toJson(*lback)), boost::json::serialize(toJson(list)));
  lm.mutable_items(0)->set_name("No Such");
  EXPECT_EQ(fromProto(lm).error().code, ErrorCode::kInternal);
  lm.mutable_items(0)->set_name("docs");
  lm.mutable_items(0)->set_dim(-1);
  EXPECT_EQ(fromProto(lm).error().code, ErrorCode::kInternal);
}

TEST(ControlRpcCodec, ErrorsKeepTheirCodeAcrossTheWire) {
  for (auto code : {ErrorCode::kNotFound, ErrorCode::kForbidden, ErrorCode::kPayloadTooLarge,
                    ErrorCode::kInvalidParams, ErrorCode::kConflict, ErrorCode::kUnavailable}) {
    Error e(code, "why", {{"retryAfterSeconds", 1}});
    auto back = fromStatus(toStatus(e), "the control plane");
    EXPECT_EQ(back.code, code);
    EXPECT_EQ(back.message, "why");
    EXPECT_EQ(back.details.at("retryAfterSeconds").as_int64(), 1);
  }
}

TEST(ControlRpcCodec, ParamsNestAsDeepAsAClientMay) {
  // The gateway accepts JSON 64 levels deep; the control plane must too.
  pb::SubmitRequest m;
  m.set_intent("chat");
  m.set_params_json("{\"a\":" + nested(kMaxJsonDepth - 2) + "}");
  EXPECT_TRUE(fromProto(m));
  m.set_params_json("{\"a\":" + nested(kMaxJsonDepth + 10) + "}");
  EXPECT_FALSE(fromProto(m));
}

TEST(ControlRpcCodec, SubmitRequestRoundTrips) {
  SubmitRequest in;
  in.principal.keyId = "k1";
  in.intent = "chat";
  in.params = boost::json::object{{"text", "hi"}};
  in.surface = "openai";
  in.route = "model:gpt-4o-mini";
  in.behind = true;
  in.attached = true;
  in.followFromAdmission = true;
  pb::SubmitRequest m;
  toProto(in, &m);
  auto back = fromProto(m);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->principal.keyId, "k1");
  EXPECT_EQ(back->intent, "chat");
  EXPECT_EQ(jsonText(back->params), R"({"text":"hi"})");
  EXPECT_EQ(back->surface, "openai");
  EXPECT_EQ(back->route, "model:gpt-4o-mini");
  EXPECT_TRUE(back->behind);
  EXPECT_TRUE(back->attached);
  EXPECT_TRUE(back->followFromAdmission);
  in.followFromAdmission = in.behind = false;
  toProto(in, &m);
  back = fromProto(m);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->followFromAdmission);
  EXPECT_FALSE(back->behind);
}

// roles is a uint32 on the wire and 8 bits here: an unknown bit (a value
// that would wrap to admin, 0x101) gives no rights, never some.
TEST(ControlRpcCodec, UnknownRoleBitsGiveNoRights) {
  pb::Principal p;
  p.set_roles(roleBit(Role::kManager) | roleBit(Role::kUser));
  EXPECT_EQ(fromProto(p).roles, roleBit(Role::kManager) | roleBit(Role::kUser));
  p.set_roles(0x100 | roleBit(Role::kAdmin));
  EXPECT_EQ(fromProto(p).roles, 0);
  p.set_roles(0x10);
  EXPECT_EQ(fromProto(p).roles, 0);
}

}  // namespace
}  // namespace aion::control::rpc
