// A component's parameter schema as the host sees it, and the one place
// where user text becomes typed values (piade::ParamSet).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "piade/sdk/params.h"
#include "piade/sdk/plugin_abi.h"

namespace piade {

struct ParamInfo {
  std::string name;
  PiadeParamType type = PIADE_PARAM_STRING;
  std::string doc;
  std::optional<std::string> default_value;  ///< none: required
  std::optional<double> min;
  std::optional<double> max;
  std::vector<std::string> choices;
};

/// "int", "float", "bool", "string", "choice", "int-list", "float-list".
const char* param_type_name(PiadeParamType type);

/// Copies a plugin's C spec. Throws piade::Error (without file context)
/// when the spec itself is malformed: a bad name or type, no choices, or a
/// default that does not satisfy its own spec.
ParamInfo read_param_spec(const PiadeParamSpec& spec);

/// Parses one value; throws piade::Error "parameter 'x': ..." when the text
/// has the wrong type, is out of range or is not one of the choices.
ParamSet::Value parse_param_value(const ParamInfo& info, const std::string& text);

/// Validates the user's values for a component (`owner` names it in errors,
/// e.g. "routing/dynamic"), fills defaults and returns the typed set.
/// Rejects unknown keys with a suggestion and missing required parameters.
ParamSet resolve_params(const std::string& owner, const std::vector<ParamInfo>& schema,
                        const std::map<std::string, std::string>& user_values);

}  // namespace piade
