#include "piade/datasets/error.h"

#include <utility>

namespace piade {

DatasetError::DatasetError(const std::string& message) : std::runtime_error(message), message_(message) {}

DatasetError::DatasetError(std::string setting, const std::string& message)
    : std::runtime_error(setting + ": " + message), setting_(std::move(setting)), message_(message) {}

}  // namespace piade
