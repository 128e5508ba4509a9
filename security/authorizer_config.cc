#include "security/authorizer_config.h"

namespace trib::security {

void add_authorizer_keys(config::schema& s) {
    s.add(config::key_spec{
        "authorizer.class.name", config::type::string, "",
        "Empty: no authorization. org.apache.kafka.metadata.authorizer.StandardAuthorizer or "
        "kafka.security.authorizer.AclAuthorizer: every request is checked against the ACLs.",
        config::one_of({"", std::string(standard_authorizer), std::string(acl_authorizer)})});
    s.add(config::key_spec{"super.users", config::type::string, "",
                           "Principals allowed everything, semicolon-separated (User:admin;User:ops).",
                           [](const std::string& v) -> std::optional<std::string> {
                               if (!parse_super_users(v)) {
                                   return "each super user must be <type>:<name>, separated by semicolons";
                               }
                               return std::nullopt;
                           }});
    s.add(config::key_spec{
        "ssl.principal.mapping.rules", config::type::string, "DEFAULT",
        "How an SSL client's certificate subject becomes its principal: DEFAULT (User:<subject DN>) only.",
        [](const std::string& v) -> std::optional<std::string> {
            if (v != "DEFAULT") {
                return "only DEFAULT is supported (the principal is User:<the certificate's subject DN>); RULE:... "
                       "mappings are not";
            }
            return std::nullopt;
        }});
    s.add(config::key_spec{"allow.everyone.if.no.acl.found", config::type::boolean, "false",
                           "With an authorizer: a resource no ACL applies to is open to everyone."});
}

authorizer_config load_authorizer_config(const config::values& v) {
    authorizer_config c;
    c.enabled = !v.get_string("authorizer.class.name").empty();
    c.super_users = *parse_super_users(v.get_string("super.users"));  // the schema checked it
    c.allow_everyone_if_no_acl_found = v.get_bool("allow.everyone.if.no.acl.found");
    return c;
}

} // namespace trib::security
