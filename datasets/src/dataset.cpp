#include "piade/datasets/dataset.h"

#include "piade/datasets/image_files.h"

namespace piade {

ImageSet ImageSet::select(const std::vector<int64_t>& indices) const {
  const torch::Tensor index = torch::tensor(indices, torch::kLong);
  ImageSet subset;
  if (source) {
    auto files = std::make_shared<ImageSource>(*source);
    files->files.clear();
    for (int64_t i : indices) files->files.push_back(source->files.at(static_cast<std::size_t>(i)));
    subset.source = std::move(files);
  } else {
    subset.images = images.index_select(0, index);
  }
  subset.labels = labels.index_select(0, index);
  if (masks.defined()) subset.masks = masks.index_select(0, index);
  subset.ids.reserve(indices.size());
  for (int64_t i : indices) subset.ids.push_back(ids.at(static_cast<std::size_t>(i)));
  if (!original_sizes.empty())
    for (int64_t i : indices) subset.original_sizes.push_back(original_sizes.at(static_cast<std::size_t>(i)));
  return subset;
}

torch::Tensor ImageSet::images_at(const std::vector<int64_t>& indices) const {
  if (source) return decode_rows(*source, indices);
  return images.index_select(0, torch::tensor(indices, torch::kLong));
}

}  // namespace piade
