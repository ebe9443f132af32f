from ilvb.live.layout import Rect, cells, fit


def test_one_view_fills_the_frame() -> None:
    assert cells(["camera"], 640, 480) == [Rect(0, 0, 640, 480)]


def test_two_views_sit_side_by_side_in_the_middle_band() -> None:
    assert cells(["camera", "camera"], 640, 480) == [
        Rect(0, 120, 320, 240),
        Rect(320, 120, 320, 240),
    ]


def test_four_views_make_a_grid_and_a_fifth_is_dropped() -> None:
    out = cells(["camera"] * 5, 1280, 720)
    assert out == [Rect(0, 0, 640, 360), Rect(640, 0, 640, 360), Rect(0, 360, 640, 360),
                   Rect(640, 360, 640, 360)]  # fmt: skip


def test_a_screen_share_is_shown_large_with_cameras_beside_it() -> None:
    out = cells(["camera", "screen", "camera"], 640, 480)
    assert out[1] == Rect(0, 0, 480, 480)
    assert all(r.x == 480 and r.w == 160 for r in (out[0], out[2]))
    assert out[0].y + out[0].h <= out[2].y


def test_fit_keeps_the_aspect_ratio_centred_and_even() -> None:
    r = fit(Rect(0, 120, 320, 240), 1280, 720)  # 16:9 into 4:3
    assert (r.w, r.h) == (320, 180) and r.x == 0 and r.y == 120 + 30
    assert all(v % 2 == 0 for v in (r.x, r.y, r.w, r.h))
