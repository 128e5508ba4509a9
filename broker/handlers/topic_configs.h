#pragma once

// The effective configs of a topic, shared by DescribeConfigs and CreateTopics (v5+ returns
// the configs a created topic has).
#include "broker/handlers/handler.h"
#include "broker/services.h"

#include <map>
#include <string>
#include <vector>

namespace trib::broker {

// Every topic config key with the value a topic with these `overrides` takes on this broker,
// and where the value comes from, as DescribeConfigs reports it.
std::vector<protocol::create_topics_response::creatable_topic_configs> created_topic_configs(
    const broker_services& svc, const cluster_snapshot& snap, const std::map<std::string, std::string>& overrides);

} // namespace trib::broker
