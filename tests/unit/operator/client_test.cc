// What the client decides without talking to a server: REST paths, errors from Status
// objects, and refusing unusable settings up front. Everything that talks to an API server
// is in tests/e2e/k8s_client_it.cc, against a real one.
#include "operator/k8s/client.h"

#include <gtest/gtest.h>

using namespace trib::op::k8s;
using web::json::value;

TEST(client, rest_paths) {
    EXPECT_EQ(client::path(resources::config_maps, "ns1", "cm"), "/api/v1/namespaces/ns1/configmaps/cm");
    EXPECT_EQ(client::path(resources::config_maps, ""), "/api/v1/configmaps");
    EXPECT_EQ(client::path(resources::stateful_sets, "n", "s", "status"),
              "/apis/apps/v1/namespaces/n/statefulsets/s/status");
    EXPECT_EQ(client::path(resources::nodes, "ignored", "node-a"), "/api/v1/nodes/node-a");
    EXPECT_EQ(client::path(resources::kafka_clusters, "n", "k", "scale"),
              "/apis/tributary.io/v1alpha1/namespaces/n/kafkaclusters/k/scale");
}

TEST(client, errors_carry_the_status_reason_and_message) {
    auto status = value::parse(R"({"kind":"Status","apiVersion":"v1","status":"Failure",
        "message":"Operation cannot be fulfilled on configmaps \"x\": the object has been modified",
        "reason":"Conflict","code":409})");
    auto e = error_from_reply("PUT /api/v1/namespaces/n/configmaps/x", 409, status, "");
    EXPECT_TRUE(e.conflict());
    EXPECT_EQ(e.reason, "Conflict");
    EXPECT_NE(std::string(e.what()).find("the object has been modified"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("PUT /api/v1/namespaces/n/configmaps/x"), std::string::npos);

    // Not a Status (a proxy's page): the reason comes from the HTTP status, the text is the message.
    auto gone = error_from_reply("GET /x", 410, value::null(), "gone away");
    EXPECT_EQ(gone.reason, "Gone");
    EXPECT_NE(std::string(gone.what()).find("gone away"), std::string::npos);
    EXPECT_TRUE(error_from_reply("GET /x", 404, value::null(), "").not_found());
    EXPECT_FALSE(error_from_reply("GET /x", 409, value::parse(R"({"kind":"Status","reason":"AlreadyExists"})"), "")
                     .conflict());
}

TEST(client, refuses_unusable_settings) {
    connection_config c;
    c.server = "127.0.0.1:6443";
    c.origin = "test";
    EXPECT_THROW(client(c, "m"), kubeconfig_error);  // not a URL
    c.server = "https://bad host:6443";
    EXPECT_THROW(client(c, "m"), kubeconfig_error);
    c.server = "https://127.0.0.1:6443";
    c.ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    try {
        client bad(c, "m");
        ADD_FAILURE() << "a garbage CA was accepted";
    } catch (const kubeconfig_error& e) {
        EXPECT_NE(std::string(e.what()).find("CA certificate"), std::string::npos) << e.what();
    }
    c.ca_pem.clear();
    c.client_cert_pem = "garbage";
    c.client_key_pem = "garbage";
    EXPECT_THROW(client(c, "m"), kubeconfig_error);
    c.client_cert_pem.clear();
    c.client_key_pem.clear();
    EXPECT_NO_THROW(client(c, "m"));  // no request is made until a call
}
