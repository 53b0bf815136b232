# The CMakeLists.txt of a plugin project, copied under that name into a
# scratch directory by cxx11_abi_check.cmake (tests/CMakeLists.txt would
# add it to the build under that name here). It asks for the other C++ ABI
# than LibTorch's through target_compile_options: piade_add_plugin() must fail its configure step.
# No language is enabled and LibTorch is not searched for (TORCH_CXX_FLAGS
# is given as find_package(Torch) sets it), so that configuring takes well
# under a second; the error comes before any compiler would be needed.
cmake_minimum_required(VERSION 3.19)
project(wrong_abi_plugin LANGUAGES NONE)
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=${TORCH_ABI}")
add_library(piade::sdk INTERFACE IMPORTED)
include(${PIADE_CMAKE_DIR}/PiadePlugin.cmake)
piade_add_plugin(wrong_abi SOURCES ${PLUGIN_SOURCE} VERSION 1.0.0)
target_compile_options(wrong_abi PRIVATE -D_GLIBCXX_USE_CXX11_ABI=${OTHER_ABI})
