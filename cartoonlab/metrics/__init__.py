from cartoonlab.metrics.backbone import InceptionFeatures, load_backbone
from cartoonlab.metrics.features import file_features, reference_features, to_uint8
from cartoonlab.metrics.fid import FIDKID, frechet_distance

__all__ = ["FIDKID", "InceptionFeatures", "file_features", "frechet_distance", "load_backbone",
           "reference_features", "to_uint8"]
