# One static library per folder of the manager, linked only downward.
#
#   warmpool_layer(<folder> DIR <path> SOURCES <src>... [DEPS <folder>...] [LIBS <target>...])
#
# makes the target warmpool_<folder>. Its headers are reachable as
# "<folder>/x.hpp" only through a view made for it (layers/<folder>/<folder>,
# a link to DIR), and a library sees the views of the layers it DEPS on,
# directly or not, and nothing else. An include of a folder above (or beside)
# is therefore "No such file or directory" at compile time: the build refuses
# a backward include instead of a reviewer having to catch it.
function(warmpool_layer folder)
  cmake_parse_arguments(L "" "DIR" "SOURCES;DEPS;LIBS" ${ARGN})
  if(NOT L_DIR)
    message(FATAL_ERROR "warmpool_layer(${folder}): DIR is required")
  endif()
  set(view ${CMAKE_BINARY_DIR}/layers/${folder})
  file(MAKE_DIRECTORY ${view})
  file(CREATE_LINK ${L_DIR} ${view}/${folder} SYMBOLIC)
  set(target warmpool_${folder})
  add_library(${target} STATIC ${L_SOURCES})
  target_include_directories(${target} PUBLIC ${view})
  set(deps "")
  foreach(dep IN LISTS L_DEPS)
    list(APPEND deps warmpool_${dep})
  endforeach()
  target_link_libraries(${target} PUBLIC ${deps} ${L_LIBS})
endfunction()
