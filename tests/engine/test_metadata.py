import pytest

from engine.errors import ModelError
from engine.metadata import HourglassConfig, ModelMetadata, Normalisation, check_compatible


def test_round_trip_through_json() -> None:
    meta = ModelMetadata(skeleton="mpii16", config=HourglassConfig(num_stacks=4, width=128, num_joints=16,
                                                                   input_size=192),
                         name="x", training={"data": "lspet"}, metrics={"pck": 0.7})
    assert ModelMetadata.from_json(meta.to_json()) == meta
    assert meta.heatmap_size == 48


@pytest.mark.parametrize("bad", ['{"skeleton": "lsp14"}', "[1, 2]", "{not json",
                                 '{"skeleton": "lsp14", "config": {"num_joints": 16}}',
                                 '{"skeleton": "lsp14", "config": {"input_size": 100}}',
                                 '{"skeleton": "lsp14", "config": {}, "format_version": 99}'])
def test_malformed_metadata_is_a_model_error(bad: str) -> None:
    with pytest.raises(ModelError):
        ModelMetadata.from_json(bad)


def test_contrast_stretch_travels_in_the_metadata_and_older_files_have_none() -> None:
    meta = ModelMetadata(skeleton="lsp14", config=HourglassConfig(), normalisation=Normalisation(stretch=1.0))
    assert ModelMetadata.from_json(meta.to_json()).normalisation.stretch == 1.0
    older = meta.to_dict()
    del older["normalisation"]["stretch"]  # a model file written before the stretch existed
    assert ModelMetadata.from_dict(older).normalisation == Normalisation()
    for bad in (-1.0, 50.0):
        with pytest.raises(ModelError, match="stretch"):
            Normalisation(stretch=bad)
    older["normalisation"]["stretch"] = 60
    with pytest.raises(ModelError, match="stretch"):
        ModelMetadata.from_dict(older)


def test_compatibility_checks() -> None:
    meta = ModelMetadata(skeleton="lsp14", config=HourglassConfig(input_size=128, width=64))
    check_compatible(meta, skeleton="lsp14", input_size=128)
    with pytest.raises(ModelError, match="skeleton"):
        check_compatible(meta, skeleton="coco17")
    with pytest.raises(ModelError, match="input size"):
        check_compatible(meta, input_size=256)


def test_joint_threshold_comes_from_the_calibration() -> None:
    config = HourglassConfig(input_size=128, width=64)
    assert ModelMetadata(skeleton="lsp14", config=config).joint_threshold == 0.3
    calibrated = ModelMetadata(skeleton="lsp14", config=config, calibration={"joint_threshold": 0.17})
    assert calibrated.joint_threshold == 0.17
    assert ModelMetadata.from_json(calibrated.to_json()).joint_threshold == 0.17


def test_the_flip_test_has_its_own_threshold_and_older_files_share_one() -> None:
    config = HourglassConfig(input_size=128, width=64)
    older = ModelMetadata(skeleton="lsp14", config=config, calibration={"joint_threshold": 0.44})
    assert older.threshold_for(False) == older.threshold_for(True) == 0.44
    both = ModelMetadata(skeleton="lsp14", config=config,
                         calibration={"joint_threshold": 0.44, "joint_threshold_flip": 0.41})
    assert (both.threshold_for(False), both.threshold_for(True)) == (0.44, 0.41)
    assert ModelMetadata.from_json(both.to_json()).threshold_for(True) == 0.41
    assert both.joint_threshold == 0.44  # the plain one, as before


def test_the_bundled_models_carry_both_thresholds() -> None:
    from engine.assets import default_model_path
    from engine.model_file import int8_sibling, read_onnx_metadata

    for path in (default_model_path(), int8_sibling(default_model_path())):
        meta = read_onnx_metadata(path)
        assert {"joint_threshold", "joint_threshold_flip"} <= meta.calibration.keys(), path
        assert meta.threshold_for(True) == meta.calibration["joint_threshold_flip"]
