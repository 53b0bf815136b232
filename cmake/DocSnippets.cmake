# The C++ snippets of a Markdown page, as translation units that the build
# compiles, so that a doc edit that breaks a snippet breaks the build
# (tests/docs uses it for docs/writing-plugins.md).
#
# Every ```cpp block of the page is compiled; none can be left out. An HTML
# comment on the line just before a block names the unit it belongs to:
#
#   <!-- snippet: loss_gradient -->
#   ```cpp
#   ...
#   ```
#
# Blocks of one unit are joined in page order into <unit>.cpp, each block
# behind a `#line` directive, so that a compiler error names the page and
# the line of the snippet (docs/writing-plugins.md:123: error: ...).
#
#  - A unit that expands PIADE_PLUGIN is a *plugin*: its blocks must be a
#    whole plugin source as written (includes too), and it is linked as the
#    plugin library <unit>.so.
#  - Any other unit is a *fragment*: compiled after
#    `#include "piade/sdk/plugin.h"`, not linked.
#  - A block without a comment is a fragment unit of its own, named after
#    its line (`line_42`).
#
# Unit names are [a-z0-9_]+. Used two ways:
#   include(DocSnippets) + piade_doc_snippets(MARKDOWN OUT_DIR PLUGINS_VAR FRAGMENTS_VAR)
#     at configure time: writes OUT_DIR/<unit>.cpp (only when its text
#     changed, so an edit elsewhere in the page rebuilds nothing) and returns
#     the unit names;
#   cmake -DMARKDOWN=page.md -DSTAMP=file -P DocSnippets.cmake
#     from a test: fails unless STAMP (written when every unit of the page
#     last built) is newer than the page, i.e. the snippets as they are now
#     compiled.

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  cmake_minimum_required(VERSION 3.18)  # the project's policies (IN_LIST) in script mode too
endif()

# Splits MARKDOWN into units; sets <prefix>_units, <prefix>_plugins,
# <prefix>_fragments, and <prefix>_text_<unit> for each unit. Works on the
# text with string() calls only: C++ is full of ';', which CMake lists split.
function(piade_doc_snippets_parse markdown prefix)
  file(READ "${markdown}" page)
  set(units)
  set(line_number 0)
  set(previous "")        # the last line before the current one
  set(in_block FALSE)
  set(block_unit "")
  set(block_indent "")
  string(LENGTH "${page}" page_length)
  set(position 0)
  while(position LESS page_length)
    string(FIND "${page}" "\n" end)
    if(end EQUAL -1)
      set(line "${page}")
      set(page "")
      set(position ${page_length})
    else()
      string(SUBSTRING "${page}" 0 ${end} line)
      math(EXPR after "${end} + 1")
      string(SUBSTRING "${page}" ${after} -1 page)
      math(EXPR position "${position} + ${after}")
    endif()
    math(EXPR line_number "${line_number} + 1")

    if(in_block)
      if(line MATCHES "^[ ]*```[ ]*$")
        set(in_block FALSE)
      else()
        # The block's own indentation (a block inside a list item) is not code.
        if(NOT block_indent STREQUAL "" AND line MATCHES "^${block_indent}")
          string(LENGTH "${block_indent}" indent_length)
          string(SUBSTRING "${line}" ${indent_length} -1 line)
        endif()
        string(APPEND text_${block_unit} "${line}\n")
      endif()
    elseif(line MATCHES "^([ ]*)```[ ]*(cpp|c\\+\\+|cxx|cc|C\\+\\+)[ ]*$")
      set(block_indent "${CMAKE_MATCH_1}")
      if(previous MATCHES "^[ ]*<!-- snippet: ([^ ]*) -->[ ]*$")
        set(block_unit "${CMAKE_MATCH_1}")
        if(NOT block_unit MATCHES "^[a-z0-9_]+$")
          message(FATAL_ERROR "${markdown}:${line_number}: snippet unit '${block_unit}' is not "
                              "a name of a-z, 0-9 and _; write <!-- snippet: NAME -->")
        endif()
      else()
        set(block_unit "line_${line_number}")
      endif()
      if(NOT block_unit IN_LIST units)
        list(APPEND units ${block_unit})
        set(text_${block_unit} "")
        set(start_${block_unit} ${line_number})
      endif()
      math(EXPR first_code_line "${line_number} + 1")
      string(APPEND text_${block_unit} "#line ${first_code_line} \"${markdown}\"\n")
      set(in_block TRUE)
    elseif(previous MATCHES "^[ ]*<!-- snippet:" AND NOT line STREQUAL "")
      math(EXPR marker_line "${line_number} - 1")
      message(FATAL_ERROR "${markdown}:${marker_line}: a snippet comment must be the line just "
                          "before a ```cpp block")
    endif()
    set(previous "${line}")
  endwhile()
  if(in_block)
    message(FATAL_ERROR "${markdown}: the ```cpp block of unit '${block_unit}' is never closed")
  endif()

  set(plugins)
  set(fragments)
  foreach(unit ${units})
    string(FIND "${text_${unit}}" "PIADE_PLUGIN(" expands)
    if(expands EQUAL -1)
      list(APPEND fragments ${unit})
      set(text_${unit} "#include \"piade/sdk/plugin.h\"\n${text_${unit}}")
    else()
      list(APPEND plugins ${unit})
    endif()
    set(${prefix}_text_${unit} "${text_${unit}}" PARENT_SCOPE)
  endforeach()
  set(${prefix}_units ${units} PARENT_SCOPE)
  set(${prefix}_plugins ${plugins} PARENT_SCOPE)
  set(${prefix}_fragments ${fragments} PARENT_SCOPE)
endfunction()

function(piade_doc_snippets markdown out_dir plugins_var fragments_var)
  piade_doc_snippets_parse("${markdown}" doc)
  file(MAKE_DIRECTORY "${out_dir}")
  foreach(unit ${doc_units})
    set(source "${out_dir}/${unit}.cpp")
    set(text "// Generated from ${markdown} by cmake/DocSnippets.cmake: edit the page, not this file.\n")
    string(APPEND text "${doc_text_${unit}}")
    set(old "")
    if(EXISTS "${source}")
      file(READ "${source}" old)
    endif()
    if(NOT old STREQUAL text)
      file(WRITE "${source}" "${text}")
    endif()
  endforeach()
  # Sources of units the page no longer has would linger; remove them.
  file(GLOB stale "${out_dir}/*.cpp")
  foreach(file ${stale})
    get_filename_component(unit "${file}" NAME_WE)
    if(NOT unit IN_LIST doc_units)
      file(REMOVE "${file}")
    endif()
  endforeach()
  set(${plugins_var} ${doc_plugins} PARENT_SCOPE)
  set(${fragments_var} ${doc_fragments} PARENT_SCOPE)
endfunction()

# Run as a script (-P), not included: the test.
if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT MARKDOWN OR NOT STAMP)
    message(FATAL_ERROR "usage: cmake -DMARKDOWN=page.md -DSTAMP=file -P DocSnippets.cmake")
  endif()
  # Parsing again catches a page whose markers no longer parse.
  piade_doc_snippets_parse("${MARKDOWN}" doc)
  list(LENGTH doc_units count)
  if(NOT EXISTS "${STAMP}" OR "${MARKDOWN}" IS_NEWER_THAN "${STAMP}")
    message(FATAL_ERROR "${MARKDOWN}: its C++ snippets did not build since the page last "
                        "changed; build them (cmake --build BUILD --target docs_snippets) and "
                        "fix the errors, which name the page's lines")
  endif()
  message(STATUS "${MARKDOWN}: ${count} snippet units (${doc_units}) built after the page's last change")
endif()
