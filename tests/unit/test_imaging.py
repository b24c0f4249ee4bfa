"""The image transformation engine (s3proxy.imaging): option parsing and validation as
the reference does it, token claims, format negotiation, imgproxy's resize/crop
geometry, and rendering real images made here with pyvips, including hostile ones."""

from __future__ import annotations

import asyncio
import math
import struct
import threading
import time
import zlib
from typing import Any

import pytest
import pyvips

from s3proxy.imaging import (
    ErrorKind,
    ImageLimits,
    ImageRenderer,
    TransformError,
    TransformOptions,
    jsvalues,
    parse_query,
    parse_sign_transform,
)
from s3proxy.imaging.formats import choose_output
from s3proxy.imaging.geometry import Box, Plan, plan

LIMITS = ImageLimits()
RED = [255, 0, 0]
BLUE = [0, 0, 255]


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
    # any non-zero number passes the reference's truthiness test and is clamped
    assert TransformOptions.from_claims("width:-5", None, LIMITS).width == 1
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


# --- rendering ------------------------------------------------------------------------


def _solid(width: int, height: int, colour: list[int]) -> Any:
    return (pyvips.Image.black(width, height, bands=len(colour)) + colour).cast("uchar").copy(interpretation="srgb")


def _halves(width: int, height: int, first: list[int], second: list[int], *, vertical: bool = False) -> Any:
    """Two colours: left/right halves, or top/bottom ones."""
    if vertical:
        return _solid(width, height // 2, first).join(_solid(width, height // 2, second), "vertical")
    return _solid(width // 2, height, first).join(_solid(width // 2, height, second), "horizontal")


def _photo(width: int, height: int) -> Any:
    """Smooth gradients plus mild noise: compresses like a photograph."""
    xyz = pyvips.Image.xyz(width, height)
    r = (xyz[0] * 255 / width).cast("uchar")
    g = (xyz[1] * 255 / height).cast("uchar")
    b = pyvips.Image.gaussnoise(width, height, mean=128, sigma=12).cast("uchar")
    return r.bandjoin([g, b]).copy(interpretation="srgb")


def _decode(body: bytes, **kwargs: Any) -> Any:
    return pyvips.Image.new_from_buffer(body, "", **kwargs)


def _is(pixel: list[float], colour: list[int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


@pytest.fixture(scope="module")
def renderer() -> Any:
    engine = ImageRenderer(LIMITS, concurrency=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return bytes(_photo(4000, 3000).jpegsave_buffer(Q=85))


def render(engine: ImageRenderer, source: bytes, accept: str | None = None, **options: Any) -> Any:
    return asyncio.run(engine.render(source, TransformOptions(**options), accept))


def test_big_jpeg_to_400px_webp_for_a_browser_that_accepts_webp(renderer: ImageRenderer, big_jpeg: bytes) -> None:
    out = render(renderer, big_jpeg, "image/avif,image/webp,*/*", width=400)
    assert (out.content_type, out.width, out.height) == ("image/webp", 400, 300)
    decoded = _decode(out.body)
    assert (decoded.width, decoded.height, decoded.get("vips-loader")) == (400, 300, "webpload_buffer")
    same = render(renderer, big_jpeg, None, width=400)
    assert (same.content_type, same.width, _decode(same.body).get("vips-loader")) == ("image/jpeg", 400,
                                                                                     "jpegload_buffer")
    # format=origin ignores Accept, as the reference does not forward it
    origin = render(renderer, big_jpeg, "image/webp", width=400, format="origin")
    assert origin.content_type == "image/jpeg"


@pytest.mark.parametrize(("options", "size"), [
    ({"width": 400, "height": 400}, (400, 400)),
    ({"width": 400, "height": 400, "resize": "contain"}, (400, 300)),
    ({"width": 400, "height": 400, "resize": "fill"}, (400, 400)),
    ({"height": 150}, (200, 150)),
    ({}, (4000, 3000)),
])
def test_resize_modes_give_the_expected_sizes(renderer: ImageRenderer, big_jpeg: bytes,
                                               options: dict[str, Any], size: tuple[int, int]) -> None:
    out = render(renderer, big_jpeg, None, **options)
    decoded = _decode(out.body)
    assert (out.width, out.height) == (decoded.width, decoded.height) == size


@pytest.mark.parametrize(("gravity", "x", "survivor"), [
    ("we", None, RED), ("ea", None, BLUE), ("fp", 0.1, RED), ("fp", 0.9, BLUE), ("ea", 0.5, RED),
])
def test_the_crop_keeps_the_side_gravity_asks_for(renderer: ImageRenderer, gravity: str, x: float | None,
                                                  survivor: list[int]) -> None:
    source = bytes(_halves(400, 200, RED, BLUE).pngsave_buffer())
    options: dict[str, Any] = {"width": 100, "height": 100, "gravity": gravity, "x_offset": x}
    if gravity == "fp":
        options["y_offset"] = 0.5
    out = _decode(render(renderer, source, None, **options).body)
    assert (out.width, out.height) == (100, 100)
    for px in (1, 50, 98):
        assert _is(out(px, 50), survivor), (px, out(px, 50))


def test_north_and_south_gravity_keep_the_top_or_the_bottom(renderer: ImageRenderer) -> None:
    source = bytes(_halves(200, 400, RED, BLUE, vertical=True).pngsave_buffer())
    top = _decode(render(renderer, source, None, width=100, height=100, gravity="no").body)
    bottom = _decode(render(renderer, source, None, width=100, height=100, gravity="so").body)
    centre = _decode(render(renderer, source, None, width=100, height=100).body)
    assert _is(top(50, 98), RED) and _is(bottom(50, 1), BLUE)
    assert _is(centre(50, 5), RED) and _is(centre(50, 95), BLUE)


def test_smart_gravity_crops_to_the_interesting_part(renderer: ImageRenderer) -> None:
    flat = _solid(400, 100, [128, 128, 128])
    busy = pyvips.Image.gaussnoise(100, 100, mean=128, sigma=80).cast("uchar")
    detail = busy.bandjoin([busy.rot90(), busy.fliphor()]).copy(interpretation="srgb")
    source = bytes(flat.insert(detail, 300, 0).pngsave_buffer())
    centre = _decode(render(renderer, source, None, width=100, height=100).body)
    smart = _decode(render(renderer, source, None, width=100, height=100, gravity="sm").body)
    assert centre.deviate() < 1
    assert smart.deviate() > 30


def test_png_alpha_survives_webp_and_png_output(renderer: ImageRenderer) -> None:
    rgba = _solid(100, 100, [255, 0, 0, 255]).insert(_solid(50, 100, [0, 0, 0, 0]), 50, 0)
    source = bytes(rgba.pngsave_buffer())
    for accept, content_type in (("image/webp", "image/webp"), (None, "image/png")):
        out = render(renderer, source, accept, width=50)
        decoded = _decode(out.body)
        assert out.content_type == content_type
        assert decoded.hasalpha() and decoded(40, 10)[3] == 0 and decoded(5, 10)[3] == 255


def test_webp_with_alpha_becomes_png_not_jpeg_without_webp_support(renderer: ImageRenderer) -> None:
    rgba = _solid(64, 64, [0, 255, 0, 128])
    out = render(renderer, bytes(rgba.webpsave_buffer(lossless=True)), None, width=32)
    assert out.content_type == "image/png" and _decode(out.body).hasalpha()


def _animated_gif(frames: int = 4, width: int = 80, height: int = 40) -> bytes:
    pages = [_solid(width, height, [60 * i, 255 - 60 * i, 0]) for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [120] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return bytes(strip.gifsave_buffer())


def test_animated_gif_renders_its_first_frame_by_default(renderer: ImageRenderer) -> None:
    out = render(renderer, _animated_gif(), "image/webp", width=40)
    decoded = _decode(out.body, n=-1)
    assert (out.width, out.height, decoded.height) == (40, 20, 20)
    assert not decoded.get_typeof("n-pages") or decoded.get("n-pages") == 1
    assert _is(decoded(5, 5), [0, 255, 0])


def test_animation_is_kept_when_frames_are_allowed() -> None:
    engine = ImageRenderer(ImageLimits(max_animation_frames=3), concurrency=1)
    try:
        webp = asyncio.run(engine.render(_animated_gif(), TransformOptions(width=40, height=10), "image/webp"))
        decoded = _decode(webp.body, n=-1)
        assert (webp.width, webp.height, decoded.get("n-pages"), decoded.get("page-height")) == (40, 10, 3, 10)
        assert decoded.get("delay") == [120, 120, 120]
        assert _is(decoded(5, 5), [0, 255, 0]) and _is(decoded(5, 25), [120, 135, 0])
        gif = asyncio.run(engine.render(_animated_gif(), TransformOptions(width=40, format="origin"), None))
        assert gif.content_type == "image/gif" and _decode(gif.body, n=-1).get("n-pages") == 3
        # AVIF cannot be animated: first frame
        avif = asyncio.run(engine.render(_animated_gif(), TransformOptions(width=40, format="avif"), None))
        assert avif.content_type == "image/avif" and (avif.width, avif.height) == (40, 20)
    finally:
        engine.close()


def test_every_kept_frame_counts_against_the_resolution_limit() -> None:
    limits = ImageLimits(max_animation_frames=10, max_resolution=80 * 40 * 3)
    engine = ImageRenderer(limits, concurrency=1)
    try:
        with pytest.raises(TransformError) as caught:
            asyncio.run(engine.render(_animated_gif(frames=4), TransformOptions(), "image/webp"))
        assert caught.value.kind is ErrorKind.TOO_LARGE
        # the same GIF is fine when only its first frame is wanted (AVIF output)
        ok = asyncio.run(engine.render(_animated_gif(frames=4), TransformOptions(format="avif"), None))
        assert ok.height == 40
    finally:
        engine.close()


def test_exif_orientation_is_applied(renderer: ImageRenderer) -> None:
    image = _halves(200, 100, RED, BLUE).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)  # display rotated 90° clockwise
    source = bytes(image.jpegsave_buffer(Q=95))
    assert _decode(source).get("orientation") == 6
    out = _decode(render(renderer, source, None, format="origin").body)
    assert (out.width, out.height) == (100, 200)
    assert _is(out(50, 10), RED) and _is(out(50, 190), BLUE)
    assert not out.get_typeof("orientation") or out.get("orientation") == 1


def test_cmyk_and_16_bit_sources_come_out_as_8_bit_srgb(renderer: ImageRenderer) -> None:
    cmyk = (pyvips.Image.black(64, 64, bands=4) + [0, 255, 255, 0]).cast("uchar").copy(interpretation="cmyk")
    out = _decode(render(renderer, bytes(cmyk.jpegsave_buffer()), "image/webp", width=32).body)
    assert out.bands == 3 and out.interpretation == "srgb"
    assert _is(out(5, 5), [230, 30, 40], tolerance=50)  # red-ish
    deep = (pyvips.Image.black(64, 64, bands=3) + [65535, 0, 32768]).cast("ushort").copy(interpretation="rgb16")
    out = _decode(render(renderer, bytes(deep.pngsave_buffer()), None, width=32).body)
    assert out.format == "uchar" and _is(out(5, 5), [255, 0, 128], tolerance=2)


def test_an_embedded_colour_profile_is_converted_to_srgb_before_it_is_stripped(renderer: ImageRenderer) -> None:
    wide = _solid(40, 40, [200, 30, 30]).icc_transform("p3", input_profile="srgb")
    assert wide(1, 1) != [200.0, 30.0, 30.0]
    out = _decode(render(renderer, bytes(wide.jpegsave_buffer(Q=98)), "image/webp", width=20).body)
    assert not out.get_typeof("icc-profile-data")
    assert _is(out(5, 5), [200, 30, 30], tolerance=6)


# --- limits and hostile input ---------------------------------------------------------


def _png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims width x height."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


def _jpeg_declaring(width: int, height: int) -> bytes:
    small = bytearray(_solid(16, 16, RED).jpegsave_buffer())
    sof = small.find(b"\xff\xc0")
    struct.pack_into(">HH", small, sof + 5, height, width)
    return bytes(small)


@pytest.mark.parametrize("bomb", [_png_declaring(100_000, 100_000), _jpeg_declaring(65_000, 65_000)])
def test_decompression_bombs_are_refused_from_the_header(renderer: ImageRenderer, bomb: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(TransformError) as caught:
        render(renderer, bomb, "image/webp", width=100)
    assert time.perf_counter() - started < 0.5
    assert caught.value.kind is ErrorKind.TOO_LARGE
    assert caught.value.message == "The source image resolution is too large to process"
    assert len(bomb) < 2000


def test_the_resolution_limit_is_the_product_of_the_sides() -> None:
    engine = ImageRenderer(ImageLimits(max_resolution=100 * 100), concurrency=1)
    try:
        assert asyncio.run(engine.render(bytes(_solid(100, 100, RED).pngsave_buffer()), TransformOptions(),
                                         None)).width == 100
        with pytest.raises(TransformError):
            asyncio.run(engine.render(bytes(_solid(101, 100, RED).pngsave_buffer()), TransformOptions(), None))
    finally:
        engine.close()


def test_a_source_can_be_refused_by_its_size_before_it_is_fetched() -> None:
    ImageLimits(max_source_bytes=10).check_source_size(10)
    with pytest.raises(TransformError) as caught:
        ImageLimits(max_source_bytes=10).check_source_size(11)
    assert caught.value.kind is ErrorKind.TOO_LARGE


def test_a_source_over_the_byte_limit_is_refused_before_parsing() -> None:
    engine = ImageRenderer(ImageLimits(max_source_bytes=1000), concurrency=1)
    try:
        with pytest.raises(TransformError) as caught:
            asyncio.run(engine.render(b"\xff\xd8\xff" + b"\0" * 1000, TransformOptions(), None))
        assert (caught.value.kind, caught.value.message) == (
            ErrorKind.TOO_LARGE, "The source image file is too large to process")
    finally:
        engine.close()


def _svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


@pytest.mark.parametrize("source", [
    b"just some text, not an image",
    b"PK\x03\x04" + b"\0" * 200,  # a zip
    b"",
    b"2 2\n1 2\n3 4\n",  # libvips' matrix format: must not load
    _svg(),  # SVG renders through librsvg: blocked
])
def test_non_images_are_invalid_sources(renderer: ImageRenderer, source: bytes) -> None:
    with pytest.raises(TransformError) as caught:
        render(renderer, source, "image/webp", width=10)
    assert caught.value.kind is ErrorKind.INVALID_SOURCE
    assert caught.value.message == "The source image is invalid or unsupported for rendering"


@pytest.mark.parametrize("encode", [
    lambda im: im.jpegsave_buffer(), lambda im: im.pngsave_buffer(), lambda im: im.webpsave_buffer(),
    lambda im: im.gifsave_buffer(), lambda im: im.tiffsave_buffer(compression="deflate"),
])
def test_truncated_images_are_invalid_sources(renderer: ImageRenderer, encode: Any) -> None:
    whole = bytes(encode(_photo(300, 200)))
    assert render(renderer, whole, "image/webp", width=100).width == 100
    for broken in (whole[: len(whole) // 2], whole[:300]):
        with pytest.raises(TransformError) as caught:
            render(renderer, broken, "image/webp", width=100)
        assert caught.value.kind is ErrorKind.INVALID_SOURCE


def test_corrupt_png_data_is_an_invalid_source(renderer: ImageRenderer) -> None:
    whole = bytes(_photo(600, 400).pngsave_buffer())
    third = len(whole) // 3
    with pytest.raises(TransformError) as caught:
        render(renderer, whole[:third] + b"\0" * third + whole[2 * third:], "image/webp", width=100)
    assert caught.value.kind is ErrorKind.INVALID_SOURCE


# --- the engine around libvips --------------------------------------------------------


def test_render_runs_off_the_event_loop() -> None:
    engine = ImageRenderer(LIMITS, concurrency=1)
    source = bytes(_photo(2000, 1500).pngsave_buffer(compression=1))

    async def scenario() -> tuple[float, int, float]:
        ticks: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        started = time.perf_counter()
        await engine.render(source, TransformOptions(format="origin"), None)  # full-size PNG re-encode
        elapsed = time.perf_counter() - started
        done.set()
        await task
        during = [t for t in ticks if t >= started]
        longest_gap = max((b - a for a, b in zip(ticks, ticks[1:], strict=False)), default=elapsed)
        return elapsed, len(during), longest_gap

    try:
        elapsed, ticks, gap = asyncio.run(scenario())
    finally:
        engine.close()
    assert elapsed > 0.1, "the render must take long enough for the check to mean something"
    assert ticks >= elapsed / 0.005 / 4
    assert gap < 0.1


def test_concurrency_is_bounded_and_a_cancelled_waiter_never_runs() -> None:
    engine = ImageRenderer(LIMITS, concurrency=2)
    lock = threading.Lock()
    running, peak, calls = 0, 0, []

    def fake_render(source: bytes, *args: Any) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            calls.append(source)
        time.sleep(0.05)
        with lock:
            running -= 1
        return source

    engine._render = fake_render  # type: ignore[assignment]

    async def scenario() -> list[Any]:
        jobs = [asyncio.create_task(engine.render(bytes([i]), TransformOptions(), None)) for i in range(6)]
        doomed = asyncio.create_task(engine.render(b"doomed", TransformOptions(), None))
        await asyncio.sleep(0.01)
        doomed.cancel()
        return await asyncio.gather(*jobs)

    try:
        results = asyncio.run(scenario())
    finally:
        engine.close()
    assert peak == 2
    assert results == [bytes([i]) for i in range(6)]
    assert b"doomed" not in calls
