#pragma once

// What a Prometheus scrape of a registry shows, for tests of metrics: the text exposition
// prometheus-cpp's TextSerializer writes, as the status server serves it.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <string>

namespace trib::fakes {

inline std::string scrape(prometheus::Registry& r) {
    return prometheus::TextSerializer().Serialize(r.Collect());
}

// True when `text` has `line` as a whole line.
inline bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

} // namespace trib::fakes
