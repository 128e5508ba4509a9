// The informer's parts that need no API server: the cache and what a LIST or watch event
// does to it, watch line parsing, and label selectors as the cache's list() matches them.
#include "operator/k8s/label_selector.h"
#include "operator/k8s/object_cache.h"

#include <gtest/gtest.h>

using namespace trib::op::k8s;
using web::json::value;

namespace {

value obj(const std::string& ns, const std::string& name, const std::string& rv,
          const std::map<std::string, std::string>& labels = {}) {
    value o = value::object();
    o["metadata"]["name"] = value::string(name);
    if (!ns.empty()) {
        o["metadata"]["namespace"] = value::string(ns);
    }
    o["metadata"]["resourceVersion"] = value::string(rv);
    for (const auto& [k, v] : labels) {
        o["metadata"]["labels"][k] = value::string(v);
    }
    return o;
}

std::vector<std::string> describe(const std::vector<cache_change>& changes) {
    std::vector<std::string> out;
    for (const auto& c : changes) {
        auto what = c.what == cache_change::kind::added ? "added " : c.what == cache_change::kind::updated ? "updated "
                                                                                                          : "deleted ";
        out.push_back(what + object_key(c.object));
    }
    return out;
}

} // namespace

TEST(object_cache, relist_replaces_and_synthesizes_deletes) {
    object_cache cache;
    EXPECT_EQ(describe(cache.replace({obj("a", "x", "1"), obj("a", "y", "1"), obj("b", "z", "1")})),
              (std::vector<std::string>{"added a/x", "added a/y", "added b/z"}));
    // After a 410: y vanished while nobody watched, z changed, w is new, x is as it was.
    auto changes = cache.replace({obj("a", "x", "1"), obj("b", "z", "5"), obj("b", "w", "6")});
    EXPECT_EQ(describe(changes), (std::vector<std::string>{"deleted a/y", "added b/w", "updated b/z"}));
    EXPECT_EQ(changes[0].old_object.at("metadata").at("resourceVersion").as_string(), "1");
    EXPECT_EQ(changes[2].old_object.at("metadata").at("resourceVersion").as_string(), "1");
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_FALSE(cache.get("a/y"));
    EXPECT_EQ(cache.list("b").size(), 2u);
    EXPECT_EQ(cache.list("a").size(), 1u);
    EXPECT_EQ(cache.list("").size(), 3u);
    EXPECT_EQ(cache.list("nowhere").size(), 0u);
}

TEST(object_cache, watch_events) {
    object_cache cache;
    EXPECT_EQ(cache.upsert(obj("n", "x", "1"))->what, cache_change::kind::added);
    auto up = cache.upsert(obj("n", "x", "2"));
    EXPECT_EQ(up->what, cache_change::kind::updated);
    EXPECT_EQ(up->old_object.at("metadata").at("resourceVersion").as_string(), "1");
    EXPECT_FALSE(cache.erase(obj("n", "never-seen", "3")).has_value());
    EXPECT_EQ(cache.erase(obj("n", "x", "4"))->what, cache_change::kind::deleted);
    EXPECT_EQ(cache.size(), 0u);
    // Cluster-scoped objects are keyed by name alone.
    cache.upsert(obj("", "node-a", "1"));
    EXPECT_TRUE(cache.get("node-a").has_value());
    // "n/" must not select a namespace whose name merely starts with "n".
    cache.upsert(obj("n", "a", "1"));
    cache.upsert(obj("n2", "b", "1"));
    EXPECT_EQ(cache.list("n").size(), 1u);
}

TEST(watch_event, parses_each_type) {
    auto added = parse_watch_event(R"({"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"7"}}})");
    EXPECT_EQ(added.type, watch_event::kind::added);
    EXPECT_EQ(added.resource_version, "7");
    EXPECT_EQ(parse_watch_event(R"({"type":"MODIFIED","object":{"metadata":{"resourceVersion":"8"}}})").type,
              watch_event::kind::modified);
    EXPECT_EQ(parse_watch_event(R"({"type":"DELETED","object":{"metadata":{"resourceVersion":"9"}}})").type,
              watch_event::kind::deleted);
    auto bookmark = parse_watch_event(
        R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"12345",)"
        R"("annotations":{"k8s.io/initial-events-end":"true"}}}})");
    EXPECT_EQ(bookmark.type, watch_event::kind::bookmark);
    EXPECT_EQ(bookmark.resource_version, "12345");
    // What the API server sends when the watch's resourceVersion was compacted away.
    auto gone = parse_watch_event(
        R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
        R"("message":"The resourceVersion for the provided watch is too old.","reason":"Expired","code":410}})");
    EXPECT_EQ(gone.type, watch_event::kind::error);
    EXPECT_EQ(gone.code, 410);
    EXPECT_EQ(gone.message, "The resourceVersion for the provided watch is too old.");
}

TEST(watch_event, rejects_malformed_lines) {
    EXPECT_THROW(parse_watch_event("not json"), std::invalid_argument);
    EXPECT_THROW(parse_watch_event(R"({"type":"ADDED"})"), std::invalid_argument);
    EXPECT_THROW(parse_watch_event(R"({"type":"RENAMED","object":{}})"), std::invalid_argument);
    EXPECT_THROW(parse_watch_event(R"({"type":"ADDED","object":{"metadata":{}}})"), std::invalid_argument);
}

TEST(label_selector, equality_set_and_existence) {
    std::map<std::string, std::string> l{{"app", "kafka"}, {"tier", "broker"}, {"example.com/zone", "a"}};
    EXPECT_TRUE(label_selector("").matches(l));
    EXPECT_TRUE(label_selector("app=kafka").matches(l));
    EXPECT_TRUE(label_selector("app==kafka").matches(l));
    EXPECT_FALSE(label_selector("app=zookeeper").matches(l));
    EXPECT_TRUE(label_selector("app=kafka, tier!=coordinator").matches(l));
    EXPECT_FALSE(label_selector("app=kafka,tier!=broker").matches(l));
    EXPECT_TRUE(label_selector("tier in (broker, coordinator)").matches(l));
    EXPECT_FALSE(label_selector("tier notin (broker,coordinator)").matches(l));
    EXPECT_TRUE(label_selector("example.com/zone").matches(l));
    EXPECT_TRUE(label_selector("!missing").matches(l));
    EXPECT_FALSE(label_selector("!app").matches(l));
    // As the API server: a missing label satisfies != and notin.
    EXPECT_TRUE(label_selector("missing!=x,missing notin (y)").matches(l));
    EXPECT_FALSE(label_selector("missing in (x)").matches(l));
    EXPECT_TRUE(label_selector("empty=").matches(std::map<std::string, std::string>{{"empty", ""}}));

    value o = value::object();
    EXPECT_TRUE(label_selector("!app").matches(o)) << "no metadata: no labels";
    o["metadata"]["labels"]["app"] = value::string("kafka");
    EXPECT_TRUE(label_selector("app in (kafka)").matches(o));
}

TEST(label_selector, rejects_malformed) {
    for (const char* bad : {"a in (x", "a within (x)", ",", "a=b,,c", "bad key=x", "a=(x)", "a=b c"}) {
        EXPECT_THROW(label_selector{bad}, std::invalid_argument) << bad;
    }
}
