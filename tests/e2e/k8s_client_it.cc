// operator/k8s against a real kube-apiserver: run by k8s_client_test.py, which starts the
// control plane (kube.py) and passes, in the environment:
//   KUBECONFIG            the admin kubeconfig (client certificate)
//   TRIB_IT_NAMESPACE     a fresh namespace for this run
//   TRIB_IT_SA_DIR        (in_cluster.* only) a folder with token, ca.crt and namespace of a
//                         ServiceAccount allowed to get/list/watch ConfigMaps in the namespace
//                         (where ConfigMap sa-visible exists),
//                         with KUBERNETES_SERVICE_HOST/PORT naming the API server
//   TRIB_IT_SA_TOKEN_2    (in_cluster.* only) a second valid token of that ServiceAccount
//   TRIB_IT_TOKEN_KUBECONFIG (in_cluster.* only) a kubeconfig with that token
// Every wait is bounded and on a condition (the garbage collector, the informer's cache).
#include "operator/k8s/client.h"
#include "operator/k8s/informer.h"
#include "operator/k8s/kubeconfig.h"

#include "tests/e2e/it_env.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

using namespace trib::op::k8s;
using web::json::value;

namespace {

using trib::op::it::admin;
using trib::op::it::env;
using trib::op::it::test_namespace;

// Polls `done` every 50 ms until it holds or `limit` passes; returns done().
bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return done();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
}

value config_map(const std::string& name, const std::map<std::string, std::string>& data,
                 const std::map<std::string, std::string>& labels = {}) {
    value cm = value::object();
    cm["apiVersion"] = value::string("v1");
    cm["kind"] = value::string("ConfigMap");
    cm["metadata"]["name"] = value::string(name);
    cm["metadata"]["namespace"] = value::string(test_namespace());
    for (const auto& [k, v] : labels) {
        cm["metadata"]["labels"][k] = value::string(v);
    }
    for (const auto& [k, v] : data) {
        cm["data"][k] = value::string(v);
    }
    return cm;
}

std::string rv(const value& obj) { return obj.at("metadata").at("resourceVersion").as_string(); }

api_error catch_api_error(const std::function<void()>& call) {
    try {
        call();
    } catch (const api_error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an api_error";
    return api_error(0, "", "none");
}

} // namespace

TEST(client, get_found_and_not_found) {
    auto c = admin();
    EXPECT_FALSE(c.get(resources::config_maps, test_namespace(), "does-not-exist").has_value());
    c.create(resources::config_maps, config_map("get-me", {{"k", "v"}}));
    auto got = c.get(resources::config_maps, test_namespace(), "get-me");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->at("data").at("k").as_string(), "v");
    EXPECT_EQ(got->at("kind").as_string(), "ConfigMap");
    EXPECT_EQ(got->at("apiVersion").as_string(), "v1");
    // A cluster-scoped kind: the namespace argument is ignored.
    ASSERT_TRUE(c.get(resources::nodes, "ignored", "no-such-node") == std::nullopt);
}

TEST(client, create_twice_is_already_exists) {
    auto c = admin();
    auto made = c.create(resources::config_maps, config_map("twice", {{"a", "1"}}));
    EXPECT_FALSE(rv(made).empty());
    auto e = catch_api_error([&] { c.create(resources::config_maps, config_map("twice", {{"a", "2"}})); });
    EXPECT_EQ(e.status, 409);
    EXPECT_EQ(e.reason, "AlreadyExists");
    EXPECT_FALSE(e.conflict());
    EXPECT_NE(std::string(e.what()).find("twice"), std::string::npos) << e.what();
}

TEST(client, apply_is_idempotent_and_owns_its_fields) {
    auto c = admin();
    auto first = c.apply(resources::config_maps, config_map("applied", {{"x", "1"}}, {{"app", "t"}}));
    auto second = c.apply(resources::config_maps, config_map("applied", {{"x", "1"}}, {{"app", "t"}}));
    EXPECT_EQ(rv(first), rv(second)) << "an unchanged apply must not write";
    bool owns = false;
    for (const auto& m : second.at("metadata").at("managedFields").as_array()) {
        if (m.at("manager").as_string() == "tributary-operator" && m.at("operation").as_string() == "Apply") {
            owns = m.at("fieldsV1").serialize().find("f:x") != std::string::npos;
        }
    }
    EXPECT_TRUE(owns) << second.serialize();

    // Another manager changes our field; our forced apply takes it back.
    c.patch(resources::config_maps, test_namespace(), "applied", value::parse(R"({"data":{"x":"2"}})"),
            patch_type::merge);
    auto third = c.apply(resources::config_maps, config_map("applied", {{"x", "1"}}, {{"app", "t"}}));
    EXPECT_EQ(third.at("data").at("x").as_string(), "1");

    // A field dropped from the applied object is removed (we owned it).
    auto fourth = c.apply(resources::config_maps, config_map("applied", {{"y", "3"}}, {{"app", "t"}}));
    EXPECT_FALSE(fourth.at("data").has_field("x")) << fourth.serialize();
    EXPECT_EQ(fourth.at("data").at("y").as_string(), "3");
}

TEST(client, replace_with_stale_resource_version_conflicts) {
    auto c = admin();
    auto made = c.create(resources::config_maps, config_map("opt", {{"n", "0"}}));
    auto updated = made;
    updated["data"]["n"] = value::string("1");
    auto stored = c.replace(resources::config_maps, updated);
    EXPECT_NE(rv(stored), rv(made));
    made["data"]["n"] = value::string("2");  // still carries the first resourceVersion
    auto e = catch_api_error([&] { c.replace(resources::config_maps, made); });
    EXPECT_TRUE(e.conflict()) << e.status << " " << e.reason << " " << e.what();
    EXPECT_EQ(c.get(resources::config_maps, test_namespace(), "opt")->at("data").at("n").as_string(), "1");
}

TEST(client, replace_status_writes_only_status) {
    auto c = admin();
    // A LoadBalancer Service: its status (the ingress address) is what a load balancer
    // controller writes through the status subresource; there is none here.
    auto svc = value::parse(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"lb"},
        "spec":{"type":"LoadBalancer","ports":[{"port":9092}],"selector":{"app":"x"}}})");
    svc["metadata"]["namespace"] = value::string(test_namespace());
    auto made = c.create(resources::services, svc);
    auto with_status = made;
    with_status["status"]["loadBalancer"]["ingress"] = value::parse(R"([{"ip":"192.0.2.10"}])");
    with_status["spec"]["ports"][0]["port"] = 9999;  // ignored: the status subresource writes status only
    auto stored = c.replace_status(resources::services, with_status);
    EXPECT_EQ(stored.at("status").at("loadBalancer").at("ingress").at(0).at("ip").as_string(), "192.0.2.10");
    EXPECT_EQ(stored.at("spec").at("ports").at(0).at("port").as_integer(), 9092);

    with_status["status"]["loadBalancer"]["ingress"][0]["ip"] = value::string("192.0.2.11");  // stale version
    auto e = catch_api_error([&] { c.replace_status(resources::services, with_status); });
    EXPECT_TRUE(e.conflict()) << e.what();
}

TEST(client, patch_merge_json_and_failed_test_op) {
    auto c = admin();
    c.create(resources::config_maps, config_map("patched", {{"a", "1"}}));
    auto merged = c.patch(resources::config_maps, test_namespace(), "patched",
                          value::parse(R"({"metadata":{"labels":{"l":"v"}},"data":{"b":"2"}})"), patch_type::merge);
    EXPECT_EQ(merged.at("metadata").at("labels").at("l").as_string(), "v");
    EXPECT_EQ(merged.at("data").at("a").as_string(), "1");
    EXPECT_EQ(merged.at("data").at("b").as_string(), "2");

    auto jsoned = c.patch(resources::config_maps, test_namespace(), "patched",
                          value::parse(R"([{"op":"test","path":"/data/a","value":"1"},
                                           {"op":"replace","path":"/data/a","value":"10"}])"),
                          patch_type::json);
    EXPECT_EQ(jsoned.at("data").at("a").as_string(), "10");

    // A guarded patch whose guard fails changes nothing (how finalizers are edited safely).
    auto e = catch_api_error([&] {
        c.patch(resources::config_maps, test_namespace(), "patched",
                value::parse(R"([{"op":"test","path":"/data/a","value":"1"},
                                 {"op":"replace","path":"/data/a","value":"99"}])"),
                patch_type::json);
    });
    EXPECT_GE(e.status, 400);
    EXPECT_LT(e.status, 500);
    EXPECT_EQ(c.get(resources::config_maps, test_namespace(), "patched")->at("data").at("a").as_string(), "10");

    auto strategic = c.patch(resources::config_maps, test_namespace(), "patched",
                             value::parse(R"({"data":{"c":"3"}})"), patch_type::strategic);
    EXPECT_EQ(strategic.at("data").at("c").as_string(), "3");
}

TEST(client, remove_with_propagation) {
    auto c = admin();
    auto ns = test_namespace();
    auto owner_of = [&](const value& owner) {
        value ref = value::object();
        ref["apiVersion"] = value::string("v1");
        ref["kind"] = value::string("ConfigMap");
        ref["name"] = owner.at("metadata").at("name");
        ref["uid"] = owner.at("metadata").at("uid");
        ref["controller"] = value::boolean(true);
        ref["blockOwnerDeletion"] = value::boolean(true);
        return value::array({ref});
    };
    // Foreground: the garbage collector (kube-controller-manager) deletes the dependent, then the owner.
    auto owner = c.create(resources::config_maps, config_map("owner-fg", {}));
    auto dep = config_map("dep-fg", {});
    dep["metadata"]["ownerReferences"] = owner_of(owner);
    c.create(resources::config_maps, dep);
    EXPECT_TRUE(c.remove(resources::config_maps, ns, "owner-fg", "Foreground"));
    EXPECT_TRUE(eventually([&] {
        return !c.get(resources::config_maps, ns, "dep-fg") && !c.get(resources::config_maps, ns, "owner-fg");
    })) << "foreground deletion did not remove owner and dependent";
    EXPECT_FALSE(c.remove(resources::config_maps, ns, "owner-fg")) << "already gone";

    // Orphan: the dependent stays, without its owner reference.
    auto owner2 = c.create(resources::config_maps, config_map("owner-or", {}));
    auto dep2 = config_map("dep-or", {});
    dep2["metadata"]["ownerReferences"] = owner_of(owner2);
    c.create(resources::config_maps, dep2);
    EXPECT_TRUE(c.remove(resources::config_maps, ns, "owner-or", "Orphan"));
    EXPECT_TRUE(eventually([&] {
        auto d = c.get(resources::config_maps, ns, "dep-or");
        return d && !d->at("metadata").has_field("ownerReferences") && !c.get(resources::config_maps, ns, "owner-or");
    })) << "orphan deletion did not keep the dependent";
}

TEST(client, list_with_label_selector) {
    auto c = admin();
    auto ns = test_namespace();
    c.create(resources::config_maps, config_map("sel-a", {}, {{"tier", "a"}, {"group", "g"}}));
    c.create(resources::config_maps, config_map("sel-b", {}, {{"tier", "b"}, {"group", "g"}}));
    c.create(resources::config_maps, config_map("sel-c", {}, {{"tier", "c"}}));
    auto names = [](const std::vector<value>& items) {
        std::set<std::string> out;
        for (const auto& i : items) {
            EXPECT_EQ(i.at("kind").as_string(), "ConfigMap");
            out.insert(i.at("metadata").at("name").as_string());
        }
        return out;
    };
    EXPECT_EQ(names(c.list(resources::config_maps, ns, "group=g")), (std::set<std::string>{"sel-a", "sel-b"}));
    EXPECT_EQ(names(c.list(resources::config_maps, ns, "tier in (a,c)")), (std::set<std::string>{"sel-a", "sel-c"}));
    EXPECT_EQ(names(c.list(resources::config_maps, ns, "group=g,tier!=a")), (std::set<std::string>{"sel-b"}));
    auto all = names(c.list(resources::config_maps, ns));
    EXPECT_TRUE(all.count("sel-a") == 1 && all.count("sel-b") == 1 && all.count("sel-c") == 1);
    // All namespaces: ours is among them.
    auto everywhere = c.list(resources::config_maps, "", "tier=c");
    ASSERT_EQ(everywhere.size(), 1u);
    EXPECT_EQ(everywhere[0].at("metadata").at("namespace").as_string(), ns);
    auto e = catch_api_error([&] { c.list(resources::config_maps, ns, "not a selector!"); });
    EXPECT_EQ(e.status, 400);
}

TEST(client, unauthorized_and_wrong_ca_are_errors) {
    auto good = load_kubeconfig(env("KUBECONFIG"));
    auto anonymous = good;
    anonymous.client_cert_pem.clear();
    anonymous.client_key_pem.clear();
    anonymous.token = std::make_shared<token_source>("not-a-token");
    client bad_token(anonymous, "tributary-operator");
    auto e = catch_api_error([&] { bad_token.get(resources::config_maps, test_namespace(), "x"); });
    EXPECT_EQ(e.status, 401);

    // The server's certificate is not signed by this CA: the TLS handshake fails.
    auto wrong_ca = good;
    wrong_ca.ca_pem = good.client_cert_pem;  // a certificate, but not the CA's
    client untrusted(wrong_ca, "tributary-operator", std::chrono::seconds(10));
    EXPECT_THROW(untrusted.get(resources::config_maps, test_namespace(), "x"), std::runtime_error);
    auto system_cas = good;
    system_cas.ca_pem.clear();  // the system's CAs don't know the test CA either
    client unknown(system_cas, "tributary-operator", std::chrono::seconds(10));
    EXPECT_THROW(unknown.get(resources::config_maps, test_namespace(), "x"), std::runtime_error);
    // insecure-skip-tls-verify: no check of the server, the client certificate still counts.
    auto insecure = system_cas;
    insecure.insecure_skip_tls_verify = true;
    client unchecked(insecure, "tributary-operator", std::chrono::seconds(10));
    EXPECT_FALSE(unchecked.get(resources::config_maps, test_namespace(), "x").has_value());
}

// --- in-cluster: a ServiceAccount token, CA and namespace from files ---

TEST(in_cluster, service_account_token_and_rotation) {
    std::filesystem::path dir = env("TRIB_IT_SA_DIR");
    auto cfg = in_cluster_config(dir);
    EXPECT_EQ(cfg.default_namespace, test_namespace());
    EXPECT_TRUE(cfg.client_cert_pem.empty());
    client c(cfg, "tributary-operator");
    EXPECT_TRUE(c.get(resources::config_maps, cfg.default_namespace, "sa-visible").has_value());
    EXPECT_FALSE(c.list(resources::config_maps, cfg.default_namespace).empty());
    // The Role allows ConfigMaps only.
    auto forbidden = catch_api_error([&] { c.list(resources::pods, cfg.default_namespace); });
    EXPECT_EQ(forbidden.status, 403);
    EXPECT_EQ(forbidden.reason, "Forbidden");

    // The token file is replaced (as the kubelet rotates it) by a bad one, then a new valid
    // one: the same client follows both without being rebuilt.
    auto write_token = [&](const std::string& token) {
        auto tmp = dir / "token.new";
        std::ofstream(tmp) << token;
        std::filesystem::rename(tmp, dir / "token");  // a new inode, as the kubelet's symlink swap
    };
    write_token("revoked-token");
    auto unauthorized = catch_api_error([&] { c.list(resources::config_maps, cfg.default_namespace); });
    EXPECT_EQ(unauthorized.status, 401);
    write_token(env("TRIB_IT_SA_TOKEN_2"));
    EXPECT_TRUE(c.get(resources::config_maps, cfg.default_namespace, "sa-visible").has_value());

    // The same ServiceAccount through a kubeconfig with a token (as kubectl would use it).
    client from_kubeconfig(load_kubeconfig(env("TRIB_IT_TOKEN_KUBECONFIG")), "tributary-operator");
    EXPECT_TRUE(from_kubeconfig.get(resources::config_maps, cfg.default_namespace, "sa-visible").has_value());
}

// --- informer: LIST + WATCH into a cache, handlers, reconnects and 410 Gone ---

namespace {

// What the handlers saw, as "added x", "updated x", "deleted x" (x: the object's name).
class event_log {
public:
    informer_handlers handlers() {
        auto name = [](const value& o) { return o.at("metadata").at("name").as_string(); };
        return {[this, name](const value& o) { push("added " + name(o)); },
                [this, name](const value&, const value& o) { push("updated " + name(o)); },
                [this, name](const value& o) { push("deleted " + name(o)); }};
    }
    bool has(const std::string& e) const {
        std::lock_guard lock(_mu);
        return std::find(_events.begin(), _events.end(), e) != _events.end();
    }
    std::string all() const {
        std::lock_guard lock(_mu);
        std::string out;
        for (const auto& e : _events) {
            out += e + "; ";
        }
        return out;
    }

private:
    void push(std::string e) {
        std::lock_guard lock(_mu);
        _events.push_back(std::move(e));
    }
    mutable std::mutex _mu;
    std::vector<std::string> _events;
};

// An informer whose handlers write to an event_log, started; `synced` says whether its
// first LIST came in time.
struct started_informer {
    started_informer(client& c, const resource& r, informer_options o) : inf(c, r, std::move(o)) {
        inf.add_handlers(log.handlers());
        inf.start();
        synced = inf.wait_for_sync(std::chrono::seconds(30));
    }
    event_log log;  // declared first: outlives the informer's thread
    informer inf;
    bool synced = false;
};

// Not a kind the operator uses (not in resources::): only this test watches it.
const resource pod_templates{"", "v1", "podtemplates", "PodTemplate"};

bool cached_data_is(const informer& inf, const std::string& name, const std::string& key, const std::string& v) {
    auto o = inf.get(test_namespace(), name);
    return o && o->has_object_field("data") && o->at("data").has_string_field(key) &&
           o->at("data").at(key).as_string() == v;
}

} // namespace

TEST(informer, sees_add_update_delete_with_label_selector) {
    auto c = admin();
    auto ns = test_namespace();
    c.create(resources::config_maps, config_map("before", {{"v", "0"}}, {{"watched", "yes"}}));
    c.create(resources::config_maps, config_map("unwatched", {}, {{"watched", "no"}}));
    started_informer w(c, resources::config_maps, {.ns = ns, .label_selector = "watched=yes"});
    ASSERT_TRUE(w.synced);
    auto& inf = w.inf;
    auto& log = w.log;
    EXPECT_TRUE(log.has("added before")) << log.all();
    EXPECT_FALSE(inf.get(ns, "unwatched")) << "outside the selector";
    EXPECT_FALSE(inf.resource_version().empty());

    c.create(resources::config_maps, config_map("later", {{"v", "1"}}, {{"watched", "yes"}}));
    EXPECT_TRUE(eventually([&] { return log.has("added later"); })) << log.all();
    c.patch(resources::config_maps, ns, "later", value::parse(R"({"data":{"v":"2"}})"), patch_type::merge);
    EXPECT_TRUE(eventually([&] { return log.has("updated later") && cached_data_is(inf, "later", "v", "2"); }))
        << log.all();
    c.remove(resources::config_maps, ns, "before");
    EXPECT_TRUE(eventually([&] { return log.has("deleted before") && !inf.get(ns, "before"); })) << log.all();

    EXPECT_EQ(inf.list(ns).size(), 1u);
    EXPECT_EQ(inf.list(ns, "watched=yes").size(), 1u);
    EXPECT_EQ(inf.list(ns, "watched!=yes").size(), 0u);
    EXPECT_EQ(inf.list("elsewhere").size(), 0u);
    EXPECT_FALSE(log.has("added unwatched"));
    EXPECT_EQ(inf.lists(), 1u) << "no relist without a 410";

    // The reader interface over it; a kind without an informer is a programming error.
    informer_reader reader;
    reader.add(inf);
    EXPECT_TRUE(reader.has_synced());
    EXPECT_TRUE(reader.get(resources::config_maps, ns, "later").has_value());
    EXPECT_EQ(reader.list(resources::config_maps, ns, "watched").size(), 1u);
    EXPECT_THROW(reader.list(resources::pods, ns), std::logic_error);
}

TEST(informer, a_transform_shapes_what_is_cached_from_the_list_and_the_watch) {
    auto c = admin();
    auto ns = test_namespace();
    c.create(resources::config_maps, config_map("listed", {{"secret", "1"}}, {{"shaped", "yes"}}));
    informer_options o{.ns = ns, .label_selector = "shaped=yes"};
    o.transform = metadata_only;
    started_informer w(c, resources::config_maps, o);
    ASSERT_TRUE(w.synced);
    auto listed = w.inf.get(ns, "listed");
    ASSERT_TRUE(listed);
    EXPECT_FALSE(listed->has_field("data")) << listed->serialize();
    EXPECT_EQ(listed->at("kind").as_string(), "ConfigMap");

    c.create(resources::config_maps, config_map("watched", {{"secret", "2"}}, {{"shaped", "yes"}}));
    EXPECT_TRUE(eventually([&] { return w.log.has("added watched"); })) << w.log.all();
    c.patch(resources::config_maps, ns, "watched", value::parse(R"({"data":{"secret":"3"}})"), patch_type::merge);
    EXPECT_TRUE(eventually([&] { return w.log.has("updated watched"); })) << w.log.all();
    auto watched = w.inf.get(ns, "watched");
    ASSERT_TRUE(watched);
    EXPECT_FALSE(watched->has_field("data")) << watched->serialize();
    EXPECT_EQ(watched->at("metadata").at("labels").at("shaped").as_string(), "yes");
}

TEST(informer, survives_a_forced_reconnect) {
    auto c = admin();
    auto ns = test_namespace();
    started_informer w(c, resources::config_maps, {.ns = ns});
    ASSERT_TRUE(w.synced);
    auto& inf = w.inf;
    auto& log = w.log;
    ASSERT_TRUE(eventually([&] { return inf.watches() >= 1; }));
    auto watches = inf.watches();
    inf.restart_watch();  // cancels the open watch request, as a dropped connection would end it
    EXPECT_TRUE(eventually([&] { return inf.watches() > watches; })) << "no new watch";
    c.create(resources::config_maps, config_map("after-reconnect", {}));
    EXPECT_TRUE(eventually([&] { return log.has("added after-reconnect"); })) << log.all();
    EXPECT_EQ(inf.lists(), 1u) << "a reconnect resumes from the last resourceVersion, without a LIST";
}

TEST(informer, watches_again_when_the_server_ends_the_watch) {
    auto c = admin();
    auto ns = test_namespace();
    // timeoutSeconds 1-2: the API server ends each watch within two seconds.
    started_informer w(c, resources::config_maps, {.ns = ns, .min_watch_timeout = std::chrono::seconds(1)});
    ASSERT_TRUE(w.synced);
    auto& inf = w.inf;
    auto& log = w.log;
    EXPECT_TRUE(eventually([&] { return inf.watches() >= 3; }, std::chrono::seconds(60)));
    c.create(resources::config_maps, config_map("between-watches", {}));
    EXPECT_TRUE(eventually([&] { return log.has("added between-watches"); })) << log.all();
    EXPECT_EQ(inf.lists(), 1u) << "each new watch resumes from the last resourceVersion";
}

TEST(informer, relists_on_410_gone_and_synthesizes_deletes) {
    // PodTemplates: k8s_client_test.py's API server has no watch cache for them, so a watch
    // is served by etcd and a compacted resourceVersion is answered with 410 Gone (the watch
    // cache of other kinds would replay its own history instead).
    auto c = admin();
    auto ns = test_namespace();
    auto pod_template = [&](const std::string& name, const std::string& image) {
        auto pt = value::parse(R"({"apiVersion":"v1","kind":"PodTemplate","metadata":{"labels":{"g":"1"}},
            "template":{"spec":{"containers":[{"name":"c","image":"x"}]}}})");
        pt["metadata"]["name"] = value::string(name);
        pt["metadata"]["namespace"] = value::string(ns);
        pt["template"]["spec"]["containers"][0]["image"] = value::string(image);
        return pt;
    };
    c.create(pod_templates, pod_template("goes-away", "a"));
    c.create(pod_templates, pod_template("changes", "a"));
    started_informer w(c, pod_templates, {.ns = ns, .label_selector = "g=1"});
    ASSERT_TRUE(w.synced);
    auto& inf = w.inf;
    auto& log = w.log;
    ASSERT_TRUE(inf.get(ns, "goes-away").has_value());

    // Away while things change (as an operator that lost its connection for long)...
    inf.stop();
    c.remove(pod_templates, ns, "goes-away");
    auto changed = c.get(pod_templates, ns, "changes").value();
    changed["template"]["spec"]["containers"][0]["image"] = value::string("b");
    c.replace(pod_templates, changed);
    auto latest = c.create(pod_templates, pod_template("new-one", "a"));
    // ...while etcd drops the history before the latest write (the API server compacts every
    // 5 minutes by default; here etcdctl does it now).
    auto cmd = env("TRIB_IT_ETCDCTL") + " --endpoints=" + env("TRIB_IT_ETCD_URL") + " compact " + rv(latest) +
               " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    // Resuming from its last resourceVersion gets 410 Gone: the informer lists again and
    // reports what changed meanwhile, the deletion it never saw included.
    inf.start();
    EXPECT_TRUE(eventually([&] { return inf.lists() == 2; })) << "no relist after 410";
    EXPECT_TRUE(eventually([&] {
        return log.has("deleted goes-away") && log.has("updated changes") && log.has("added new-one");
    })) << log.all();
    EXPECT_FALSE(inf.get(ns, "goes-away"));
    // And it watches on from the new list.
    c.create(pod_templates, pod_template("after-relist", "a"));
    EXPECT_TRUE(eventually([&] { return log.has("added after-relist"); })) << log.all();
    EXPECT_EQ(inf.lists(), 2u);
}

TEST(informer, stop_ends_a_watch_and_start_resumes) {
    auto c = admin();
    auto ns = test_namespace();
    started_informer w(c, resources::config_maps, {.ns = ns});
    ASSERT_TRUE(w.synced);
    auto& inf = w.inf;
    auto& log = w.log;
    ASSERT_TRUE(eventually([&] { return inf.watches() >= 1; }));
    // The open watch would last 5-10 minutes: stop() returns because it cancels the request
    // (the pytest run's timeout catches a stop() that waits for the server instead).
    inf.stop();
    auto watches = inf.watches();
    c.create(resources::config_maps, config_map("while-stopped", {}));
    inf.start();
    EXPECT_TRUE(eventually([&] { return log.has("added while-stopped"); })) << log.all();
    EXPECT_EQ(inf.lists(), 1u) << "resumed from its resourceVersion, without a LIST";
    EXPECT_GT(inf.watches(), watches);
}
