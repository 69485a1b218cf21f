# Finds GMP and its C++ interface gmpxx (Debian: libgmp-dev).
# Defines the imported targets Gmp::gmp and Gmp::gmpxx.
find_path(Gmp_INCLUDE_DIR gmpxx.h)
find_library(Gmp_LIBRARY NAMES gmp)
find_library(Gmpxx_LIBRARY NAMES gmpxx)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Gmp REQUIRED_VARS Gmp_LIBRARY Gmpxx_LIBRARY Gmp_INCLUDE_DIR)
if(Gmp_FOUND AND NOT TARGET Gmp::gmp)
  add_library(Gmp::gmp UNKNOWN IMPORTED)
  set_target_properties(Gmp::gmp PROPERTIES IMPORTED_LOCATION ${Gmp_LIBRARY}
                                            INTERFACE_INCLUDE_DIRECTORIES ${Gmp_INCLUDE_DIR})
  add_library(Gmp::gmpxx UNKNOWN IMPORTED)
  set_target_properties(Gmp::gmpxx PROPERTIES IMPORTED_LOCATION ${Gmpxx_LIBRARY}
                                              INTERFACE_LINK_LIBRARIES Gmp::gmp)
endif()
