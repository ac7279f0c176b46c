// Server-Sent Events: the Last-Event-ID a reconnecting client sends (header
// or ?lastEventId=) and the frames aionOS writes. Each frame is read back
// with the WHATWG event-stream parsing rules; the client must see the id,
// the event type and the data that were sent (newlines in data normalised
// to LF, as the spec does).
//
// Input: "=== id", "=== event" and "=== data" sections; parseLastEventId
// gets the id section and the whole input.
#include "http/sse.h"

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"

namespace {

struct Dispatched {
  std::string id, type, data;
};

// The WHATWG HTML "event stream interpretation", for one stream.
std::vector<Dispatched> interpret(std::string_view s) {
  std::vector<Dispatched> out;
  std::string lastId, type, data;
  bool anyData = false;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t eol = s.find_first_of("\r\n", pos);
    if (eol == std::string_view::npos) break;  // an unterminated line is not processed
    std::string_view line = s.substr(pos, eol - pos);
    pos = eol + ((s[eol] == '\r' && eol + 1 < s.size() && s[eol + 1] == '\n') ? 2 : 1);
    if (line.empty()) {
      if (anyData) {
        if (!data.empty() && data.back() == '\n') data.pop_back();
        out.push_back({lastId, type.empty() ? "message" : type, data});
      }
      data.clear();
      type.clear();
      anyData = false;
      continue;
    }
    if (line.front() == ':') continue;
    auto colon = line.find(':');
    std::string_view field = line.substr(0, colon), value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "event") {
      type = value;
    } else if (field == "data") {
      data.append(value).push_back('\n');
      anyData = true;
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) lastId = value;
    }
  }
  return out;
}

std::string withoutNewlines(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '\r' && c != '\n') out += c;
  return out;
}

std::string normalised(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

void checkLastEventId(std::string_view v) {
  auto n = aion::http::parseLastEventId(v);
  if (n && *n < 0) aion::fuzz::violated("a negative Last-Event-ID");
  // A sequence number aionOS wrote reads back as itself.
  if (n && aion::http::parseLastEventId(std::to_string(*n)) != n)
    aion::fuzz::violated("Last-Event-ID round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  checkLastEventId(text);
  auto s = aion::fuzz::sections(text);
  checkLastEventId(s["id"]);

  auto frame = aion::http::sseEvent(s["id"], s["event"], s["data"]);
  auto events = interpret(frame);
  std::string id = withoutNewlines(s["id"]), type = withoutNewlines(s["event"]);
  // The spec ignores an id holding NUL and drops an event whose data is
  // empty; aionOS sends neither (ids are sequence numbers, data is JSON).
  if (s["data"].empty() || id.find('\0') != std::string::npos) return 0;
  if (events.size() != 1) aion::fuzz::violated("one sseEvent is not one event");
  auto& e = events.front();
  if (e.id != id) aion::fuzz::violated("the event id does not read back");
  if (e.type != (type.empty() ? "message" : type))
    aion::fuzz::violated("the event type does not read back");
  if (e.data != normalised(s["data"])) aion::fuzz::violated("the event data does not read back");
  return 0;
}
