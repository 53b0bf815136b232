// The error the dataset layer throws. It names the file or the dataset
// setting at fault, never a command-line flag: the layer knows nothing of
// the CLI, which turns a setting into the flag the user typed
// (`data_root` -> `--data-root`).
#pragma once

#include <stdexcept>
#include <string>

namespace piade {

class DatasetError : public std::runtime_error {
 public:
  /// A problem with a file or directory: `message` starts with its path.
  explicit DatasetError(const std::string& message);
  /// A problem with a dataset setting (`data_root`, `normal_class`,
  /// `image_size`, `resize`, `channels`, `skip_bad`, `category`, ...):
  /// what() is "setting: message".
  DatasetError(std::string setting, const std::string& message);

  /// The setting at fault, or "" when the message names a file.
  const std::string& setting() const { return setting_; }
  /// The message without the setting.
  const std::string& message() const { return message_; }

 private:
  std::string setting_;
  std::string message_;
};

}  // namespace piade
