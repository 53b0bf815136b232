# piade_add_plugin(NAME SOURCES src... [LIBRARIES lib...] [OUTPUT_DIRECTORY dir])
#
# Builds one piade plugin: a MODULE library named NAME.so (no "lib"
# prefix), linked against piade::sdk, with hidden visibility so that only
# the entry point is exported, and -z defs so that an undefined symbol fails
# the link instead of crashing the host at load time. Used for the built-in
# plugins and, through find_package(PiadeSDK), by third parties.
function(piade_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "piade_add_plugin(${name}): no SOURCES given")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${name} PRIVATE piade::sdk ${ARG_LIBRARIES})
  target_link_options(${name} PRIVATE -Wl,-z,defs)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
endfunction()
