# trib_module(<name> DEPS <libs...> [EXCLUDE <file names...>]): a static library trib_<name>
# from the module folder's *.cc files (main.cc excluded: that is the program; EXCLUDE names
# files another target builds). Folders are globbed so a new file needs no CMake edit.
function(trib_module name)
  cmake_parse_arguments(arg "" "" "DEPS;EXCLUDE" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER sources EXCLUDE REGEX "/main\\.cc$")
  foreach(x ${arg_EXCLUDE})
    list(FILTER sources EXCLUDE REGEX "/${x}$")
  endforeach()
  if(NOT sources AND NOT arg_UNPARSED_ARGUMENTS)
    add_library(trib_${name} INTERFACE)  # a module with no code yet
    target_link_libraries(trib_${name} INTERFACE ${arg_DEPS})
    return()
  endif()
  add_library(trib_${name} STATIC ${sources} ${arg_UNPARSED_ARGUMENTS})
  target_link_libraries(trib_${name} PUBLIC ${arg_DEPS})
endfunction()
