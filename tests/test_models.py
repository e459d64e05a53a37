"""hwutils.models: the report's parameter counts and the width solver."""
import pytest

from hwutils import models


@pytest.mark.parametrize("target,name,count", [
    ("sinc", "deep", 461), ("sinc", "middle", 460), ("sinc", "shallow", 459),
    ("xcosx", "middle", 462), ("xcosx", "shallow", 460)])
def test_report_architectures_have_the_reports_counts(target, name, count):
    widths = models.REPORT_FUNCTION_MODELS[target][name]
    assert models.dense_params(widths) == count
    assert models.count_params(models.dense_chain(widths)) == count


@pytest.mark.parametrize("target", [300, 460, 1000, 3200, 28000, 100000])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 6])
def test_width_solver_within_three_percent(target, depth):
    widths = models.solve_widths(target, depth, n_in=1, n_out=1) if target < 3000 else \
        models.solve_widths(target, depth, n_in=144, n_out=10, fixed=40)
    assert len(widths) == depth and min(widths) >= 1
    n_in, n_out, fixed = (1, 1, 0) if target < 3000 else (144, 10, 40)
    assert abs(fixed + models.dense_params([n_in, *widths, n_out]) - target) <= 0.03 * target


def test_width_solver_says_when_impossible():
    with pytest.raises(ValueError, match="within"):
        models.solve_widths(50, 1, n_in=100, n_out=10)


def test_conv_dense_count_matches_front_plus_dense():
    for shape, filters, pool, hidden in [((28, 28, 1), 4, 4, [20]), ((32, 32, 3), 16, 4, [31, 31, 31, 29]),
                                         ((8, 8, 1), 8, 2, [19, 18])]:
        _, flat, conv = models.conv_front(shape, filters, pool=pool)
        model = models.conv_dense(shape, filters, hidden, pool=pool)
        assert models.count_params(model) == conv + models.dense_params([flat, *hidden, 10])


def test_report_cnn_builds_for_each_image_shape():
    for shape in [(28, 28, 1), (32, 32, 3), (8, 8, 1)]:
        assert models.report_cnn(shape).output_shape == (None, 10)
    assert models.count_params(models.report_cnn((28, 28, 1))) == 320 + 18496 + 36864 * 100 + 100 + 1010
