# Libraries behind protocol/compression.cc, the record batch codecs: zlib (gzip), libzstd,
# liblz4 (frame API) and libsnappy. Included from protocol/CMakeLists.txt after trib_module.
target_link_libraries(trib_protocol PUBLIC ZLIB::ZLIB PkgConfig::ZSTD PkgConfig::LZ4 Snappy::snappy)
