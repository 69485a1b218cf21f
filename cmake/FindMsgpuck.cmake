# Finds msgpuck (Debian: libmsgpuck-dev), a small C library of msgpack primitives.
# Defines the imported target Msgpuck::msgpuck.
find_path(Msgpuck_INCLUDE_DIR msgpuck.h)
find_library(Msgpuck_LIBRARY NAMES msgpuck)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Msgpuck REQUIRED_VARS Msgpuck_LIBRARY Msgpuck_INCLUDE_DIR)
if(Msgpuck_FOUND AND NOT TARGET Msgpuck::msgpuck)
  add_library(Msgpuck::msgpuck UNKNOWN IMPORTED)
  set_target_properties(Msgpuck::msgpuck PROPERTIES IMPORTED_LOCATION ${Msgpuck_LIBRARY}
                                                    INTERFACE_INCLUDE_DIRECTORIES ${Msgpuck_INCLUDE_DIR})
endif()
