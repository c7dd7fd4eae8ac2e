# Build warnings are errors for the project's own code. Third-party headers come in as SYSTEM.
function(infergate_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow=local -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers -Werror
                                           # GCC 12 misreads Asio's coroutine frame allocator.
                                           -Wno-mismatched-new-delete)
endfunction()

# A GoogleTest executable registered with CTest. Usage:
#   infergate_test(NAME foo_test SOURCES a_test.cpp LIBS lib1 lib2)
function(infergate_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  infergate_warnings(${T_NAME})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  # Tests that read ../shared/data find it through this variable; they skip when it is absent.
  target_compile_definitions(${T_NAME} PRIVATE
    INFERGATE_SHARED_DATA="${CMAKE_SOURCE_DIR}/../shared/data"
    INFERGATE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  include(GoogleTest)
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()

# A library made of every *.cpp in DIR except tests (*_test.cpp), fuzz targets (*_fuzz.cpp) and
# programs (*_main.cpp); its tests are every *_test.cpp in DIR, in one GoogleTest executable.
#   infergate_component(NAME lib DIR dir INCLUDE incdir LIBS public deps TEST_LIBS test-only deps)
function(infergate_component)
  cmake_parse_arguments(C "" "NAME;DIR" "INCLUDE;LIBS;TEST_LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${C_DIR}/*.cpp)
  set(tests ${srcs})
  list(FILTER srcs EXCLUDE REGEX "(_test|_fuzz|_main)\\.cpp$")
  list(FILTER tests INCLUDE REGEX "_test\\.cpp$")
  if(srcs)
    add_library(${C_NAME} STATIC ${srcs})
    infergate_warnings(${C_NAME})
    target_include_directories(${C_NAME} PUBLIC ${C_INCLUDE})
    target_link_libraries(${C_NAME} PUBLIC ${C_LIBS})
  else()
    add_library(${C_NAME} INTERFACE)
    target_include_directories(${C_NAME} INTERFACE ${C_INCLUDE})
    target_link_libraries(${C_NAME} INTERFACE ${C_LIBS})
  endif()
  if(INFERGATE_BUILD_TESTS AND tests)
    infergate_test(NAME ${C_NAME}_test SOURCES ${tests} LIBS ${C_NAME} ${C_TEST_LIBS})
  endif()
endfunction()

# Fuzz targets implement LLVMFuzzerTestOneInput. With clang and -DINFERGATE_LIBFUZZER=ON they link
# libFuzzer for open-ended runs; otherwise they link tests/fuzz/fuzz_driver.cpp, which replays the
# seed corpus and a bounded number of deterministic mutations, as a CTest test.
#   infergate_fuzz_target(NAME fuzz_x SOURCES x_fuzz.cpp LIBS lib CORPUS dir)
option(INFERGATE_LIBFUZZER "Link fuzz targets with libFuzzer (clang only)" OFF)
function(infergate_fuzz_target)
  if(NOT INFERGATE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(F "" "NAME;CORPUS" "SOURCES;LIBS" ${ARGN})
  add_executable(${F_NAME} ${F_SOURCES})
  infergate_warnings(${F_NAME})
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  if(INFERGATE_LIBFUZZER)
    target_compile_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
    target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  else()
    target_link_libraries(${F_NAME} PRIVATE infergate_fuzz_driver)
    add_test(NAME ${F_NAME} COMMAND ${F_NAME} --iterations=20000 ${F_CORPUS})
    set_tests_properties(${F_NAME} PROPERTIES TIMEOUT 300)
  endif()
endfunction()
