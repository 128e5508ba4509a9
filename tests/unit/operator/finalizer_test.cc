#include <gtest/gtest.h>

#include "operator/k8s/finalizer.h"
#include "tests/fakes/fake_kube.h"

using namespace trib::op::k8s;
using trib::op::k8s::testing::fake_kube;
using web::json::value;

namespace {

const std::string ours = "tributary.io/cleanup";

value cluster(const std::vector<std::string>& finalizers = {}) {
    value kc;
    kc["metadata"]["name"] = value::string("c");
    kc["metadata"]["namespace"] = value::string("ns");
    if (!finalizers.empty()) {
        for (size_t i = 0; i < finalizers.size(); ++i) {
            kc["metadata"]["finalizers"][i] = value::string(finalizers[i]);
        }
    }
    return kc;
}

std::vector<std::string> finalizers(fake_kube& kube) {
    std::vector<std::string> out;
    auto obj = kube.get(resources::kafka_clusters, "ns", "c");
    if (obj && obj->at("metadata").has_array_field("finalizers")) {
        for (const auto& f : obj->at("metadata").at("finalizers").as_array()) {
            out.push_back(f.as_string());
        }
    }
    return out;
}

} // namespace

TEST(finalizer, added_to_an_object_without_any_and_only_once) {
    fake_kube kube;
    auto read = kube.put(resources::kafka_clusters, cluster());
    auto patched = add_finalizer(kube, resources::kafka_clusters, read, ours);
    EXPECT_TRUE(has_finalizer(patched, ours));
    EXPECT_EQ(finalizers(kube), std::vector<std::string>{ours});
    kube.calls.clear();
    add_finalizer(kube, resources::kafka_clusters, patched, ours);
    EXPECT_TRUE(kube.calls.empty()) << "already there: no request";
}

TEST(finalizer, added_after_another_controllers_entry) {
    fake_kube kube;
    auto read = kube.put(resources::kafka_clusters, cluster({"other.io/x"}));
    add_finalizer(kube, resources::kafka_clusters, read, ours);
    EXPECT_EQ(finalizers(kube), (std::vector<std::string>{"other.io/x", ours}));
}

TEST(finalizer, adding_on_a_stale_read_fails_instead_of_dropping_the_other_entry) {
    fake_kube kube;
    auto read = kube.put(resources::kafka_clusters, cluster());
    kube.put(resources::kafka_clusters, cluster({"other.io/x"})); // written after our read
    try {
        add_finalizer(kube, resources::kafka_clusters, read, ours);
        FAIL() << "patch on a stale read succeeded";
    } catch (const api_error& e) {
        EXPECT_TRUE(stale_finalizers(e));
    }
    EXPECT_EQ(finalizers(kube), std::vector<std::string>{"other.io/x"});
    // The retry on a fresh read works.
    add_finalizer(kube, resources::kafka_clusters, *kube.get(resources::kafka_clusters, "ns", "c"), ours);
    EXPECT_EQ(finalizers(kube), (std::vector<std::string>{"other.io/x", ours}));
}

TEST(finalizer, removing_on_a_stale_index_fails_instead_of_removing_another_entry) {
    fake_kube kube;
    auto read = kube.put(resources::kafka_clusters, cluster({"other.io/x", ours, "third.io/y"}));
    // Another controller removes its entry after our read: ours moves from index 1 to 0, and
    // index 1 now holds third.io/y.
    kube.put(resources::kafka_clusters, cluster({ours, "third.io/y"}));
    try {
        remove_finalizer(kube, resources::kafka_clusters, read, ours);
        FAIL() << "patch on a stale index succeeded";
    } catch (const api_error& e) {
        EXPECT_TRUE(stale_finalizers(e));
    }
    EXPECT_EQ(finalizers(kube), (std::vector<std::string>{ours, "third.io/y"}));
    remove_finalizer(kube, resources::kafka_clusters, *kube.get(resources::kafka_clusters, "ns", "c"), ours);
    EXPECT_EQ(finalizers(kube), std::vector<std::string>{"third.io/y"});
}

TEST(finalizer, removing_the_last_one_lets_a_deleted_object_go) {
    fake_kube kube;
    kube.put(resources::kafka_clusters, cluster({ours}));
    kube.remove(resources::kafka_clusters, "ns", "c");
    auto terminating = kube.get(resources::kafka_clusters, "ns", "c");
    ASSERT_TRUE(terminating.has_value()) << "the finalizer holds it";
    kube.calls.clear();
    auto unchanged = add_finalizer(kube, resources::kafka_clusters, *terminating, "other.io/x");
    EXPECT_TRUE(kube.calls.empty()) << "no new finalizers on an object being deleted";
    remove_finalizer(kube, resources::kafka_clusters, *terminating, ours);
    EXPECT_FALSE(kube.get(resources::kafka_clusters, "ns", "c").has_value());
}

TEST(finalizer, a_real_error_is_not_taken_for_a_stale_read) {
    EXPECT_FALSE(stale_finalizers(api_error(403, "Forbidden", "no")));
    EXPECT_FALSE(stale_finalizers(api_error(404, "NotFound", "gone")));
    EXPECT_TRUE(stale_finalizers(api_error(409, "Conflict", "modified")));
}
