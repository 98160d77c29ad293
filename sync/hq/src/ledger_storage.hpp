// The Storage of every backend: the ledger and the ingest over the storage port.
#pragma once

#include <memory>

#include "loyalty/hq/storage.hpp"
#include "port.hpp"

namespace loyalty::hq::detail {

std::unique_ptr<Storage> make_storage(std::unique_ptr<Backend> backend, const EnrollmentOpener& opener,
                                      LedgerPolicy policy);

}  // namespace loyalty::hq::detail
