// The fake API server other operator tests rely on: it must behave like the real one where
// reconcilers look (versions, conflicts, patches, selectors, finalizers).
#include <gtest/gtest.h>

#include "tests/fakes/fake_kube.h"

using namespace trib::op::k8s;
using trib::op::k8s::testing::fake_kube;
using web::json::value;

namespace {

value config_map(const std::string& name, const std::string& data, const std::string& app = "a") {
    value cm;
    cm["metadata"]["name"] = value::string(name);
    cm["metadata"]["namespace"] = value::string("ns");
    cm["metadata"]["labels"]["app"] = value::string(app);
    cm["data"]["k"] = value::string(data);
    return cm;
}

std::string rv(const value& obj) { return obj.at("metadata").at("resourceVersion").as_string(); }
int64_t generation(const value& obj) { return obj.at("metadata").at("generation").as_number().to_int64(); }

} // namespace

TEST(fake_kube, create_sets_server_fields_and_refuses_duplicates) {
    fake_kube kube;
    auto stored = kube.create(resources::config_maps, config_map("c", "1"));
    EXPECT_EQ(stored.at("kind").as_string(), "ConfigMap");
    EXPECT_EQ(stored.at("apiVersion").as_string(), "v1");
    EXPECT_FALSE(stored.at("metadata").at("uid").as_string().empty());
    EXPECT_EQ(generation(stored), 1);
    try {
        kube.create(resources::config_maps, config_map("c", "2"));
        FAIL() << "second create succeeded";
    } catch (const api_error& e) {
        EXPECT_EQ(e.status, 409);
        EXPECT_EQ(e.reason, "AlreadyExists");
    }
    EXPECT_FALSE(kube.get(resources::config_maps, "ns", "missing").has_value());
}

TEST(fake_kube, versions_move_only_on_change_and_generation_only_on_spec) {
    fake_kube kube;
    auto a = kube.apply(resources::config_maps, config_map("c", "1"));
    auto same = kube.apply(resources::config_maps, config_map("c", "1"));
    EXPECT_EQ(rv(a), rv(same));
    auto labelled = a;
    labelled["metadata"]["labels"]["x"] = value::string("y");
    auto b = kube.replace(resources::config_maps, labelled);
    EXPECT_NE(rv(b), rv(a));
    EXPECT_EQ(generation(b), 1);
    auto c = kube.apply(resources::config_maps, config_map("c", "2"));
    EXPECT_EQ(generation(c), 2);
    EXPECT_EQ(c.at("metadata").at("labels").at("x").as_string(), "y") << "apply merges, keeps other fields";
}

TEST(fake_kube, stale_resource_version_conflicts) {
    fake_kube kube;
    auto a = kube.create(resources::kafka_clusters, config_map("k", "1"));
    auto b = a;
    b["status"]["replicas"] = value::number(3);
    auto stored = kube.replace_status(resources::kafka_clusters, b);
    EXPECT_EQ(stored.at("status").at("replicas").as_integer(), 3);
    EXPECT_EQ(generation(stored), 1);
    try {
        kube.replace_status(resources::kafka_clusters, b); // a's version, now stale
        FAIL() << "stale write succeeded";
    } catch (const api_error& e) {
        EXPECT_TRUE(e.conflict());
    }
    // replace does not touch status.
    auto c = stored;
    c["status"]["replicas"] = value::number(9);
    auto d = kube.replace(resources::kafka_clusters, c);
    EXPECT_EQ(d.at("status").at("replicas").as_integer(), 3);
}

TEST(fake_kube, json_patch_test_guards_and_finalizers_hold_deletion) {
    fake_kube kube;
    kube.create(resources::config_maps, config_map("c", "1"));
    auto add = value::parse(R"([{"op":"test","path":"/metadata/finalizers","value":null},
                               {"op":"add","path":"/metadata/finalizers","value":["x/y"]}])");
    kube.patch(resources::config_maps, "ns", "c", add, patch_type::json);
    try {
        kube.patch(resources::config_maps, "ns", "c", add, patch_type::json);
        FAIL() << "test op passed against a list";
    } catch (const api_error& e) {
        EXPECT_EQ(e.status, 422);
    }
    EXPECT_TRUE(kube.remove(resources::config_maps, "ns", "c"));
    auto held = kube.get(resources::config_maps, "ns", "c");
    ASSERT_TRUE(held.has_value());
    EXPECT_TRUE(held->at("metadata").has_field("deletionTimestamp"));
    kube.patch(resources::config_maps, "ns", "c",
               value::parse(R"([{"op":"test","path":"/metadata/finalizers/0","value":"x/y"},
                                {"op":"remove","path":"/metadata/finalizers/0"}])"),
               patch_type::json);
    EXPECT_FALSE(kube.get(resources::config_maps, "ns", "c").has_value());
}

TEST(fake_kube, list_by_namespace_and_selector) {
    fake_kube kube;
    kube.create(resources::config_maps, config_map("a", "1", "x"));
    kube.create(resources::config_maps, config_map("b", "1", "y"));
    auto other = config_map("c", "1", "x");
    other["metadata"]["namespace"] = value::string("other");
    kube.create(resources::config_maps, other);
    EXPECT_EQ(kube.list(resources::config_maps, "ns").size(), 2u);
    EXPECT_EQ(kube.list(resources::config_maps, "").size(), 3u);
    EXPECT_EQ(kube.list(resources::config_maps, "", "app=x").size(), 2u);
    EXPECT_EQ(kube.list(resources::config_maps, "ns", "app=x").size(), 1u);
    EXPECT_EQ(kube.list(resources::config_maps, "ns", "app!=x").size(), 1u);
    EXPECT_EQ(kube.list(resources::config_maps, "ns", "app=x,missing").size(), 0u);
    EXPECT_TRUE(kube.list(resources::pods, "").empty());
}

TEST(fake_kube, logs_calls_and_injects_failures) {
    fake_kube kube;
    kube.fail_next("apply", "ConfigMap", api_error(500, "InternalError", "boom"));
    EXPECT_THROW(kube.apply(resources::config_maps, config_map("a", "1")), api_error);
    kube.apply(resources::config_maps, config_map("a", "1"));
    kube.get(resources::config_maps, "ns", "a");
    kube.remove(resources::config_maps, "ns", "a");
    EXPECT_EQ(kube.calls, (std::vector<std::string>{"apply ConfigMap ns/a", "apply ConfigMap ns/a",
                                                    "get ConfigMap ns/a", "remove ConfigMap ns/a"}));
    EXPECT_EQ(kube.writes().size(), 3u);
}
