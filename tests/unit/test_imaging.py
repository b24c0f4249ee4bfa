"""The image transformation engine (s3proxy.imaging): option parsing and validation as
the reference does it, token claims, format negotiation and imgproxy's resize/crop
geometry."""

from __future__ import annotations

import math
from typing import Any

import pytest

from s3proxy.imaging import jsvalues
from s3proxy.imaging.errors import ErrorKind, TransformError
from s3proxy.imaging.formats import choose_output
from s3proxy.imaging.geometry import Box, Plan, plan
from s3proxy.imaging.limits import ImageLimits
from s3proxy.imaging.options import TransformOptions
from s3proxy.imaging.validation import parse_query, parse_sign_transform

LIMITS = ImageLimits()


# --- JavaScript value rules -------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("12", 12.0), (" 12\n", 12.0), ("0x10", 16.0), ("1e2", 100.0), (".5", 0.5), ("", 0.0), ("  ", 0.0),
    ("-Infinity", -math.inf),
])
def test_js_number_accepts_what_javascript_accepts(text: str, expected: float) -> None:
    assert jsvalues.number(text) == expected


@pytest.mark.parametrize("text", ["abc", "1_000", "inf", "nan", "12px", "-0x10", "1e", "0x"])
def test_js_number_refuses_what_javascript_refuses(text: str) -> None:
    assert math.isnan(jsvalues.number(text))


def test_parse_int_and_parse_float_take_the_numeric_prefix() -> None:
    assert jsvalues.parse_int(" 42px") == 42
    assert jsvalues.parse_int("-7.9") == -7
    assert jsvalues.parse_int("px") is None
    assert jsvalues.parse_float("0.25abc") == 0.25
    assert math.isnan(jsvalues.parse_float("abc"))


@pytest.mark.parametrize(("value", "text"), [
    (0.5, "0.5"), (1.0, "1"), (100, "100"), (1e-7, "1e-7"), (0.000001, "0.000001"), (1e21, "1e+21"),
    (123.456, "123.456"), (-0.25, "-0.25"), (1e20, "100000000000000000000"), (0.0, "0"),
])
def test_numbers_are_written_as_javascript_writes_them(value: float, text: str) -> None:
    assert jsvalues.to_string(value) == text


# --- query parsing (GET /render/image/{public,authenticated}) ---------------------------


def test_query_values_are_coerced_and_clamped_to_the_limits() -> None:
    options = parse_query({"width": "5000", "height": " 0x10 ", "quality": "80.0", "resize": "contain",
                           "format": "webp", "download": "x.png"}, LIMITS)
    assert options == TransformOptions(width=2000, height=16, resize="contain", format="webp", quality=80)
    assert parse_query({"width": "0"}, LIMITS).width is None  # 0 means "not given"
    assert parse_query({"width": "3"}, ImageLimits(min_size=10)).width == 10
    assert parse_query({"width": ["300"]}, LIMITS).width == 300  # one value in a list


@pytest.mark.parametrize(("query", "message"), [
    ({"width": "abc"}, "querystring/width must be integer"),
    ({"width": "12.5"}, "querystring/width must be integer"),
    ({"width": ""}, "querystring/width must be integer"),
    ({"width": ["100", "200"]}, "querystring/width must be integer"),
    ({"height": "-1"}, "querystring/height must be >= 0"),
    ({"width": "Infinity"}, 'querystring/width must pass "finite" keyword validation'),
    ({"quality": "10"}, "querystring/quality must be >= 20"),
    ({"quality": "101"}, "querystring/quality must be <= 100"),
    ({"resize": "stretch"}, "querystring/resize must be equal to one of the allowed values"),
    ({"format": "png"}, "querystring/format must be equal to one of the allowed values"),
    ({"gravity": "north"}, "querystring/gravity must be equal to one of the allowed values"),
    ({"x_offset": "left"}, "querystring/x_offset must be number"),
    # properties are checked in schema order: height before width, resize before quality
    ({"width": "abc", "height": "-5"}, "querystring/height must be >= 0"),
    ({"quality": "5", "resize": "x"}, "querystring/resize must be equal to one of the allowed values"),
])
def test_bad_query_values_get_the_reference_validation_message(query: dict[str, Any], message: str) -> None:
    with pytest.raises(TransformError) as caught:
        parse_query(query, LIMITS)
    error = caught.value
    assert (error.kind, error.message, error.code, error.error, error.status) == (
        ErrorKind.PARAMETER, message, "InvalidRequest", "Error", 400)


@pytest.mark.parametrize(("query", "message"), [
    ({"gravity": "fp"}, "querystring must have required property 'x_offset', "
                        'querystring must match "then" schema'),
    ({"gravity": "fp", "x_offset": "0.5"}, "querystring must have required property 'y_offset', "
                                           'querystring must match "then" schema'),
    ({"gravity": "fp", "x_offset": "2", "y_offset": "0.5"},
     'querystring/x_offset must be <= 1, querystring must match "then" schema'),
    ({"gravity": "fp", "x_offset": "0.5", "y_offset": "-0.1"},
     'querystring/y_offset must be >= 0, querystring must match "then" schema'),
    # the if/then keyword runs before the properties
    ({"gravity": "fp", "width": "abc"}, "querystring must have required property 'x_offset', "
                                        'querystring must match "then" schema'),
])
def test_focal_point_gravity_needs_both_offsets_within_0_1(query: dict[str, Any], message: str) -> None:
    with pytest.raises(TransformError) as caught:
        parse_query(query, LIMITS)
    assert caught.value.message == message


def test_offsets_are_kept_for_directional_gravity_and_focal_point() -> None:
    assert parse_query({"gravity": "fp", "x_offset": "0.25", "y_offset": "1"}, LIMITS) == TransformOptions(
        gravity="fp", x_offset=0.25, y_offset=1.0)
    assert parse_query({"gravity": "so", "y_offset": "-20"}, LIMITS) == TransformOptions(gravity="so", y_offset=-20.0)


# --- POST /object/sign body and token claims -------------------------------------------


def test_sign_body_transform_is_validated_with_json_types() -> None:
    options = parse_sign_transform({"width": 300, "height": "200", "resize": "cover", "quality": 75.0}, LIMITS)
    assert options == TransformOptions(width=300, height=200, resize="cover", quality=75)
    for transform, message in [
        ({"width": 2.5}, "body/transform/width must be integer"),
        ({"resize": 5}, "body/transform/resize must be equal to one of the allowed values"),
        ({"gravity": "fp", "x_offset": 0.1}, "body/transform must have required property 'y_offset', "
                                             'body/transform must match "then" schema'),
        ("big", "body/transform must be object"),
    ]:
        with pytest.raises(TransformError) as caught:
            parse_sign_transform(transform, LIMITS)
        assert caught.value.message == message


@pytest.mark.parametrize(("options", "transformations", "image_format"), [
    (TransformOptions(height=200, width=300, resize="cover"), "height:200,width:300,resize:cover", ""),
    (TransformOptions(width=300), "width:300,resize:undefined", ""),  # the reference's JS template
    (TransformOptions(quality=50, format="webp"), "quality:50,format:webp", "webp"),
    (TransformOptions(width=10, format="origin"), "width:10,resize:undefined", "origin"),
    (TransformOptions(format="origin"), "", "origin"),
    (TransformOptions(gravity="fp", x_offset=0.5, y_offset=0.25), "gravity:fp:0.5:0.25", ""),
    (TransformOptions(gravity="ce", x_offset=0.2), "gravity:ce:0.2:0", ""),
    (TransformOptions(gravity="sm", x_offset=0.2), "gravity:sm", ""),
    (TransformOptions(gravity="nowe"), "gravity:nowe", ""),
])
def test_claims_are_written_like_the_reference(options: TransformOptions, transformations: str,
                                               image_format: str) -> None:
    assert options.to_claims() == (transformations, image_format)


@pytest.mark.parametrize("options", [
    TransformOptions(height=200, width=300, resize="cover"),
    TransformOptions(width=300),
    TransformOptions(width=40, height=50, resize="fill", quality=90, format="avif", gravity="soea",
                     x_offset=0.1, y_offset=12.0),
    TransformOptions(width=40, format="origin", gravity="fp", x_offset=0.0, y_offset=1.0),
    TransformOptions(),
])
def test_claims_round_trip(options: TransformOptions) -> None:
    transformations, image_format = options.to_claims()
    assert TransformOptions.from_claims(transformations, image_format, LIMITS) == options


def test_claims_are_read_leniently_like_set_transformations_from_string() -> None:
    options = TransformOptions.from_claims("width:abc,height:,foo:bar,height:120px,quality:70,resize:undefined",
                                           None, ImageLimits(max_size=100))
    assert options == TransformOptions(height=100, quality=70)
    with pytest.raises(TransformError) as caught:
        TransformOptions.from_claims("width:10,gravity:fp", None, LIMITS)
    assert (caught.value.code, caught.value.message) == (
        "InvalidParameter", "Focal point requires x and y coordinates within 0-1 range")


def test_render_segments_use_imgproxy_resizing_types() -> None:
    assert TransformOptions(width=1, height=2, resize="contain").segments() == [
        "height:2", "width:1", "resizing_type:fit"]
    assert TransformOptions(width=1, resize="fill").segments() == ["width:1", "resizing_type:force"]
    assert TransformOptions(width=1, format="origin").segments() == ["width:1", "resizing_type:fill"]


# --- format negotiation ---------------------------------------------------------------------


@pytest.mark.parametrize(("source", "requested", "accept", "kwargs", "expected"), [
    ("jpeg", None, "image/avif,image/webp,*/*", {}, "webp"),
    ("jpeg", None, "image/avif,*/*", {}, "jpeg"),  # AVIF is not picked automatically...
    ("jpeg", None, "image/avif,image/webp", {"auto_avif": True}, "avif"),  # ...unless enabled
    ("gif", None, "image/avif,image/webp", {"auto_avif": True, "animated": True}, "webp"),
    ("jpeg", None, None, {}, "jpeg"),
    ("png", None, "text/html", {"alpha": True}, "png"),
    ("webp", None, None, {}, "jpeg"),  # imgproxy's preferred formats: jpeg, png, gif
    ("webp", None, None, {"alpha": True}, "png"),
    ("webp", None, None, {"animated": True}, "gif"),
    ("heic", "origin", None, {}, "jpeg"),
    ("png", "avif", None, {}, "avif"),
    ("jpeg", "webp", "image/jpeg", {}, "webp"),
])
def test_output_format_is_chosen_like_imgproxy(source: Any, requested: Any, accept: str | None,
                                              kwargs: dict[str, bool], expected: str) -> None:
    assert choose_output(source, requested, accept, **kwargs) == expected


# --- geometry (imgproxy's arithmetic) -------------------------------------------------


def test_cover_scales_to_fill_the_box_and_crops_the_overflow_centred() -> None:
    assert plan(4000, 2000, TransformOptions(width=400, height=400)) == Plan(800, 400, Box(200, 0, 400, 400))
    assert plan(4000, 3000, TransformOptions(width=400, height=300)) == Plan(400, 300)


def test_one_side_keeps_the_aspect_ratio_for_cover_and_contain_but_fill_stretches_it() -> None:
    assert plan(4000, 3000, TransformOptions(width=400)) == Plan(400, 300)
    assert plan(4000, 3000, TransformOptions(height=300, resize="contain")) == Plan(400, 300)
    assert plan(4000, 3000, TransformOptions(width=400, resize="fill")) == Plan(400, 3000)


def test_contain_fits_inside_and_fill_forces_the_exact_box() -> None:
    assert plan(4000, 2000, TransformOptions(width=400, height=400, resize="contain")) == Plan(400, 200)
    assert plan(4000, 2000, TransformOptions(width=400, height=400, resize="fill")) == Plan(400, 400)


def test_images_are_never_enlarged() -> None:
    assert plan(300, 200, TransformOptions(width=600)) == Plan(300, 200)
    assert plan(300, 200, TransformOptions(width=600, height=600)) == Plan(300, 200)
    # the requested box is cut down to what the image has
    assert plan(300, 200, TransformOptions(width=150, height=600)) == Plan(300, 200, Box(76, 0, 150, 200))  # (300-150+1)/2 rounded to even


@pytest.mark.parametrize(("gravity", "x", "left"), [
    (None, None, 50), ("ce", None, 50), ("we", None, 0), ("ea", None, 100),
    ("we", 0.1, 20),  # |offset| < 1: a fraction of the side, away from the edge
    ("ea", 25.0, 75),  # otherwise pixels
    ("fp", 0.5, 50), ("fp", 0.9, 100), ("fp", 0.1, 0),  # centred on the point, kept inside
])
def test_horizontal_gravity_places_the_crop(gravity: Any, x: float | None, left: int) -> None:
    # 400x200 covered by 100x100: scaled to 200x100, then 100 of the 200 columns are kept
    y = 0.5 if gravity == "fp" else None
    layout = plan(400, 200, TransformOptions(width=100, height=100, gravity=gravity, x_offset=x, y_offset=y))
    assert layout == Plan(200, 100, Box(left, 0, 100, 100))


@pytest.mark.parametrize(("gravity", "y", "top"), [
    ("no", None, 0), ("so", None, 100), ("noea", None, 0), ("sowe", None, 100), ("ea", None, 50),
    ("no", 0.2, 40), ("so", -10.0, 100), ("fp", 0.75, 100), ("fp", 0.25, 0),
])
def test_vertical_gravity_places_the_crop(gravity: Any, y: float | None, top: int) -> None:
    x = 0.5 if gravity == "fp" else None
    layout = plan(200, 400, TransformOptions(width=100, height=100, gravity=gravity, x_offset=x, y_offset=y))
    assert layout == Plan(100, 200, Box(0, top, 100, 100))


def test_smart_gravity_fixes_the_crop_size_and_leaves_the_position_to_libvips() -> None:
    layout = plan(4000, 2000, TransformOptions(width=400, height=400, gravity="sm"))
    assert layout.smart and layout.crop == Box(200, 0, 400, 400)
