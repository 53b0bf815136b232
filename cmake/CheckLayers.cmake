# cmake -DSOURCE_DIR=<repo> -P cmake/CheckLayers.cmake
#
# The layering check of docs/architecture.md: every project include of every
# source under a layer must name a header of that layer or of one below it.
# The include roots already make a wrong-way include fail to compile; this
# check also catches what include roots cannot see (a relative "../" path, a
# header-only file no target compiles) and says which rule was broken.
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "CheckLayers: pass -DSOURCE_DIR=<repository root>")
endif()

# layer folder | project include prefixes it may use, comma-separated (besides its own folder's
# files, included by bare name)
set(layers
  "sdk|piade/sdk/"
  "plugins|piade/sdk/"
  "datasets|piade/datasets/"
  "host/core|piade/sdk/,piade/datasets/,piade/core/"
  "host/eval|piade/sdk/,piade/datasets/,piade/core/,piade/eval/"
  "host/detector|piade/sdk/,piade/datasets/,piade/core/,piade/eval/,piade/detector.h"
  "benchmarks/compare|piade/sdk/,piade/datasets/,piade/core/,piade/eval/,piade/compare/"
  "host/cli|piade/sdk/,piade/datasets/,piade/core/,piade/eval/,piade/compare/,cli/")

set(violations 0)
foreach(entry ${layers})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 layer)
  list(GET parts 1 allowed)
  string(REPLACE "," ";" allowed "${allowed}")
  file(GLOB_RECURSE sources "${SOURCE_DIR}/${layer}/*.h" "${SOURCE_DIR}/${layer}/*.hpp"
       "${SOURCE_DIR}/${layer}/*.cpp" "${SOURCE_DIR}/${layer}/*.h.in")
  foreach(source ${sources})
    file(STRINGS "${source}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    get_filename_component(source_dir "${source}" DIRECTORY)
    file(RELATIVE_PATH shown "${SOURCE_DIR}" "${source}")
    foreach(line ${includes})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" header "${line}")
      set(ok FALSE)
      if(NOT header MATCHES "/" AND EXISTS "${source_dir}/${header}")
        set(ok TRUE)  # a file beside it, in the same layer
      endif()
      foreach(prefix ${allowed})
        string(FIND "${header}" "${prefix}" at)
        if(at EQUAL 0 AND NOT header MATCHES "\\.\\.")
          set(ok TRUE)
        endif()
      endforeach()
      if(NOT ok)
        message(SEND_ERROR "${shown}: includes \"${header}\", which layer ${layer} may not use "
                           "(allowed: ${allowed}; see docs/architecture.md)")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations GREATER 0)
  message(FATAL_ERROR "CheckLayers: ${violations} wrong-way include(s)")
endif()
message(STATUS "CheckLayers: every include follows docs/architecture.md")
