from cartoonlab.metrics.backbone import InceptionFeatures, load_backbone
from cartoonlab.metrics.content import ContentMetrics
from cartoonlab.metrics.feature_cache import file_features, reference_features, to_uint8_tensor
from cartoonlab.metrics.fid import FIDKID, frechet_distance, kid_subset_size_for

__all__ = [
    "FIDKID",
    "ContentMetrics",
    "InceptionFeatures",
    "file_features",
    "frechet_distance",
    "kid_subset_size_for",
    "load_backbone",
    "reference_features",
    "to_uint8_tensor",
]
