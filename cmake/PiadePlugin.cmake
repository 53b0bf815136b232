# piade_add_plugin(NAME SOURCES src... [VERSION x.y.z] [LIBRARIES lib...]
#                  [OUTPUT_DIRECTORY dir])
#
# Builds one piade plugin: a MODULE library named NAME.so (no "lib"
# prefix), linked against piade::sdk, with hidden visibility so that only
# the entry point is exported, and -z defs so that an undefined symbol fails
# the link instead of crashing the host at load time. Used for the built-in
# plugins and, through find_package(PiadeSDK), by third parties.
#
# VERSION is the plugin's own version, the one `piade plugins` shows: it
# becomes the compile definition PIADE_PLUGIN_VERSION, which PIADE_PLUGIN
# (plugin.h) writes into the manifest, so that no source repeats it. Without
# VERSION the enclosing project's version is used, if it has one.
function(piade_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY;VERSION" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "piade_add_plugin(${name}): no SOURCES given")
  endif()
  if(NOT ARG_VERSION AND PROJECT_VERSION)
    set(ARG_VERSION ${PROJECT_VERSION})
  endif()
  if(ARG_VERSION AND NOT ARG_VERSION MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
    message(FATAL_ERROR "piade_add_plugin(${name}): VERSION '${ARG_VERSION}' is not "
                        "MAJOR.MINOR.PATCH; give e.g. VERSION 1.0.0")
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
  if(NOT PIADE_SANITIZE)  # sanitizer runtimes live in the executable (sdk/CMakeLists.txt)
    target_link_options(${name} PRIVATE -Wl,-z,defs)
  endif()
  if(ARG_VERSION)
    target_compile_definitions(${name} PRIVATE PIADE_PLUGIN_VERSION="${ARG_VERSION}")
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  # Checked once the directory is read, so that the target's own options,
  # given after this call, are seen too.
  if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])" AND CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
    cmake_language(EVAL CODE
      "cmake_language(DEFER CALL piade_check_cxx11_abi [[${name}]] [[${CMAKE_MATCH_1}]])")
  endif()
endfunction()

# piade_check_cxx11_abi(TARGET TORCH_ABI): fails configure when TARGET asks
# for another _GLIBCXX_USE_CXX11_ABI than LibTorch's TORCH_ABI. LibTorch's
# own -D_GLIBCXX_USE_CXX11_ABI comes later on the compiler's command line
# and so overrides a target's without a word (GCC warns only of a
# redefinition); and were it the other way round, the plugin would not
# load. plugin.h checks it again at compile time.
function(piade_check_cxx11_abi target torch_abi)
  get_target_property(options ${target} COMPILE_OPTIONS)
  get_target_property(definitions ${target} COMPILE_DEFINITIONS)
  foreach(item IN LISTS options definitions CMAKE_CXX_FLAGS)
    if(item MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])" AND NOT CMAKE_MATCH_1 STREQUAL torch_abi)
      message(FATAL_ERROR
        "piade_add_plugin(${target}): it is compiled with _GLIBCXX_USE_CXX11_ABI=${CMAKE_MATCH_1} "
        "('${item}'), but LibTorch uses _GLIBCXX_USE_CXX11_ABI=${torch_abi} (TORCH_CXX_FLAGS), "
        "whose flag would silently override it; remove the definition: a plugin uses LibTorch's C++ ABI")
    endif()
  endforeach()
endfunction()
