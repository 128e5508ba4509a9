#pragma once

#include <filesystem>
#include <random>
#include <string>

namespace trib::storage::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class temp_dir {
public:
    explicit temp_dir(const std::string& prefix = "trib-storage") {
        std::random_device rd;
        _path = std::filesystem::temp_directory_path() /
                (prefix + "-" + std::to_string(rd()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(_path);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(_path, ec);
    }
    const std::filesystem::path& path() const noexcept { return _path; }

private:
    std::filesystem::path _path;
};

} // namespace trib::storage::testing
