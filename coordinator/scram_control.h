#pragma once

// AlterUserScramCredentials decided against an image (KIP-554, as KRaft's controller does
// it): the answer per user and the records to write. Pure: the controller runs it on its
// scratch image and commits the records.
//
// Each user may appear once in a request, in the deletions or the upsertions
// (DUPLICATE_RESOURCE for every later mention, and the earlier one is dropped: the user is
// answered once, with the error). A user name must not be empty (UNACCEPTABLE_CREDENTIAL),
// the mechanism must be SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2) (UNSUPPORTED_SASL_MECHANISM),
// an upsertion's iterations 4096..16384 (UNACCEPTABLE_CREDENTIAL), and a deletion must name
// an existing credential (RESOURCE_NOT_FOUND). An upsertion carries the client's salt and
// salted password; the record keeps the salt, StoredKey and ServerKey derived from it.
#include "coordinator/client/metadata_image.h"
#include "coordinator/client/records.h"
#include "protocol/messages.h"

#include <vector>

namespace trib::coordinator {

struct scram_alteration {
    protocol::alter_user_scram_credentials_response response;
    std::vector<metadata_record> records;  // removals first, then upsertions
};

scram_alteration alter_scram_credentials(const metadata_image& image,
                                         const protocol::alter_user_scram_credentials_request& req);

} // namespace trib::coordinator
