# ctest sdk.cxx11_abi_mismatch: a plugin built with the other
# _GLIBCXX_USE_CXX11_ABI than LibTorch's is refused with a message naming
# the macro, (1) by the compiler, through plugin.h's static_assert, and
# (2) by piade_add_plugin() at configure time.
# Run with -DCXX= -DSDK_INCLUDES=a;b -DTORCH_ABI= -DPIADE_CMAKE_DIR= -DWORK_DIR= -P.
math(EXPR other_abi "1 - ${TORCH_ABI}")
set(here ${CMAKE_CURRENT_LIST_DIR})

# -fsyntax-only -Wfatal-errors: plugin.h checks the ABI with #error before
# it includes LibTorch, so the compiler stops at once instead of reading
# torch's headers.
set(include_flags)
foreach(dir IN LISTS SDK_INCLUDES)
  list(APPEND include_flags -I${dir})
endforeach()
execute_process(
  COMMAND ${CXX} -std=c++17 -fsyntax-only -Wfatal-errors -D_GLIBCXX_USE_CXX11_ABI=${other_abi}
          -DPIADE_WITH_CUDA=0 ${include_flags} ${here}/wrong_abi_plugin.cpp
  RESULT_VARIABLE compile_rc OUTPUT_VARIABLE compile_out ERROR_VARIABLE compile_out)
if(compile_rc EQUAL 0)
  message(FATAL_ERROR "a plugin compiled with _GLIBCXX_USE_CXX11_ABI=${other_abi} compiled; "
                      "plugin.h should refuse it")
endif()
if(NOT compile_out MATCHES "error: #error \"?this plugin is compiled with another _GLIBCXX_USE_CXX11_ABI")
  message(FATAL_ERROR "the compiler failed without plugin.h's message naming _GLIBCXX_USE_CXX11_ABI:\n${compile_out}")
endif()
message(STATUS "compiler: refused as expected")

file(REMOVE_RECURSE ${WORK_DIR})
configure_file(${here}/wrong_abi_project.cmake ${WORK_DIR}/src/CMakeLists.txt COPYONLY)
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/src -B ${WORK_DIR}/build -DTORCH_ABI=${TORCH_ABI}
          -DOTHER_ABI=${other_abi} -DPIADE_CMAKE_DIR=${PIADE_CMAKE_DIR}
          -DPLUGIN_SOURCE=${here}/wrong_abi_plugin.cpp
  RESULT_VARIABLE configure_rc OUTPUT_VARIABLE configure_out ERROR_VARIABLE configure_out)
string(REPLACE "\n" " " configure_text "${configure_out}")
if(configure_rc EQUAL 0)
  message(FATAL_ERROR "a plugin project asking for _GLIBCXX_USE_CXX11_ABI=${other_abi} configured:\n${configure_out}")
endif()
if(NOT configure_text MATCHES "piade_add_plugin\\(wrong_abi\\): it is compiled with +_GLIBCXX_USE_CXX11_ABI=${other_abi}")
  message(FATAL_ERROR "configure failed without piade_add_plugin()'s message:\n${configure_out}")
endif()
message(STATUS "configure: refused as expected")
