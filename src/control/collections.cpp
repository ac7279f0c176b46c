#include "control/collections.h"

#include <boost/json.hpp>
#include <regex>
#include <set>

#include "common/json_text.h"

namespace aion::control {
namespace json = boost::json;

namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string at(size_t i) {
  return "documents[" + std::to_string(i) + "]";
}

Status checkCount(size_t n, const DocumentLimits& limits) {
  if (n == 0) return fail(ErrorCode::kInvalidRequest, "documents must be a non-empty array");
  if (n > limits.maxDocuments)
    return fail(ErrorCode::kPayloadTooLarge, "at most " + std::to_string(limits.maxDocuments) +
                                                 " documents per request (got " +
                                                 std::to_string(n) + ")");
  return {};
}

constexpr const char* kIdRule = "[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}";

}  // namespace

Status authorizeCollections(const Principal& who, CollectionOp op) {
  constexpr RoleSet kIndexers =
      roleBit(Role::kAdmin) | roleBit(Role::kManager) | roleBit(Role::kUser);
  constexpr RoleSet kDroppers = roleBit(Role::kAdmin) | roleBit(Role::kManager);
  RoleSet need = op == CollectionOp::kIndex    ? kIndexers
                 : op == CollectionOp::kDelete ? kDroppers
                                               : RoleSet(0xFF);
  if (who.hasAny(need)) return {};
  return fail(
      ErrorCode::kForbidden,
      std::string(op == CollectionOp::kIndex ? "indexing documents" : "deleting a collection") +
          " needs role " + roleSetString(need),
      {{"required", roleSetString(need)}});
}

Status checkCollectionName(const std::string& name) {
  static const std::regex kRe("[a-z0-9][a-z0-9_-]{0,63}");
  if (!std::regex_match(name, kRe))
    return fail(ErrorCode::kInvalidRequest,
                "collection name must match [a-z0-9][a-z0-9_-]{0,63} (got " +
                    std::to_string(name.size()) + " characters)");
  return {};
}

std::string trimSpace(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && isSpace(s[b])) ++b;
  while (e > b && isSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

Status checkDocuments(const std::vector<Document>& docs, const DocumentLimits& limits) {
  static const std::regex kIdRe(kIdRule);
  if (auto st = checkCount(docs.size(), limits); !st) return st;
  std::set<std::string_view> seen;
  for (size_t i = 0; i < docs.size(); ++i) {
    const auto& d = docs[i];
    if (d.id.empty()) return fail(ErrorCode::kInvalidRequest, at(i) + ".id is required");
    if (!std::regex_match(d.id, kIdRe))
      return fail(ErrorCode::kInvalidRequest,
                  at(i) + ".id must be a string matching " + std::string(kIdRule));
    if (d.text.size() > limits.maxTextBytes)
      return fail(ErrorCode::kPayloadTooLarge, at(i) + ".text is " + std::to_string(d.text.size()) +
                                                   " bytes; at most " +
                                                   std::to_string(limits.maxTextBytes));
    if (jsonText(d.metadata).size() > limits.maxMetadataBytes)
      return fail(ErrorCode::kPayloadTooLarge, at(i) + ".metadata is larger than " +
                                                   std::to_string(limits.maxMetadataBytes) +
                                                   " bytes as JSON");
    if (d.text.find('\0') != std::string::npos)
      return fail(ErrorCode::kInvalidRequest, at(i) + ".text must not contain NUL characters");
    if (trimSpace(d.text).empty()) return fail(ErrorCode::kInvalidParams, at(i) + ".text is empty");
    if (!seen.insert(d.id).second)
      return fail(ErrorCode::kInvalidParams, at(i) + ".id '" + d.id + "' appears twice");
  }
  return {};
}

Result<std::vector<Document>> parseDocuments(const json::object& body,
                                             const DocumentLimits& limits) {
  for (auto& [k, v] : body)
    if (k != "documents")
      return fail(ErrorCode::kInvalidRequest,
                  "unknown field '" + std::string(k) + "' (use documents)");
  auto* docs = body.if_contains("documents");
  if (!docs || !docs->is_array())
    return fail(ErrorCode::kInvalidRequest, "documents must be a non-empty array");
  const auto& arr = docs->as_array();
  if (auto st = checkCount(arr.size(), limits); !st) return std::unexpected(st.error());
  // Shapes here; values (formats, sizes, duplicates) in checkDocuments.
  std::vector<Document> out;
  out.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const auto* d = arr[i].if_object();
    if (!d) return fail(ErrorCode::kInvalidRequest, at(i) + " must be an object");
    Document doc;
    for (auto& [k, v] : *d) {
      if (k == "id") {
        if (!v.is_string() || v.as_string().empty())
          return fail(ErrorCode::kInvalidRequest,
                      at(i) + ".id must be a string matching " + std::string(kIdRule));
        doc.id = v.as_string();
      } else if (k == "text") {
        if (!v.is_string())
          return fail(ErrorCode::kInvalidRequest, at(i) + ".text must be a string");
        doc.text = v.as_string();
      } else if (k == "metadata") {
        if (!v.is_object())
          return fail(ErrorCode::kInvalidRequest, at(i) + ".metadata must be an object");
        doc.metadata = v.as_object();
      } else {
        return fail(ErrorCode::kInvalidRequest,
                    at(i) + ": unknown field '" + std::string(k) + "' (use id, text, metadata)");
      }
    }
    if (!d->contains("id")) return fail(ErrorCode::kInvalidRequest, at(i) + ".id is required");
    if (!d->contains("text")) return fail(ErrorCode::kInvalidRequest, at(i) + ".text is required");
    out.push_back(std::move(doc));
  }
  if (auto st = checkDocuments(out, limits); !st) return std::unexpected(st.error());
  return out;
}

std::vector<std::string> chunkText(const std::string& text, size_t maxBytes) {
  std::vector<std::string> out;
  size_t i = 0, n = text.size();
  maxBytes = std::max<size_t>(maxBytes, 8);
  while (i < n) {
    while (i < n && isSpace(text[i])) ++i;
    if (i >= n) break;
    size_t end = std::min(n, i + maxBytes);
    if (end < n) {
      // Prefer the last whitespace in the window; else do not split a UTF-8 sequence.
      size_t cut = end;
      while (cut > i && !isSpace(text[cut])) --cut;
      if (cut > i + maxBytes / 4) {
        end = cut;
      } else {
        while (end > i && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        if (end == i) end = std::min(n, i + maxBytes);
      }
    }
    std::string piece = trimSpace(std::string_view(text).substr(i, end - i));
    if (!piece.empty()) out.push_back(std::move(piece));
    i = end;
  }
  return out;
}

json::object toJson(const IndexedDocuments& r) {
  json::array ids;
  for (auto& id : r.documents) ids.emplace_back(id);
  return {{"collection", r.collection},   {"documents", std::move(ids)},
          {"chunks", r.chunks},           {"dim", r.dim},
          {"embedModule", r.embedModule}, {"engine", r.engine}};
}

json::object toJson(const CollectionList& l) {
  json::array items;
  for (auto& c : l.items)
    items.push_back(json::object{{"name", c.name}, {"dim", c.dim}, {"chunks", c.chunks}});
  return {{"items", std::move(items)}, {"engine", l.engine}};
}

}  // namespace aion::control
