"""hwutils.results: values that behave as plain floats, arrays and pairs, and keep what they carry."""
import json
import pickle

import numpy as np
import pytest

from hwutils import results


def test_results_behave_as_plain_values_and_keep_their_attributes_through_pickle():
    s = results.Scalar(2.5, precision="float32", se=0.1)
    assert s == 2.5 and s * 2 == 5.0 and json.dumps(s) == "2.5" and f"{s:.1f}" == "2.5"
    assert results.info(pickle.loads(pickle.dumps(s))) == {"precision": "float32", "se": 0.1}
    v = results.Values(np.arange(4.0), precision="float64")
    assert v[1:].precision == "float64" and type(np.asarray(v)) is np.ndarray
    again = pickle.loads(pickle.dumps(v))
    np.testing.assert_array_equal(again, np.arange(4.0))
    assert again.precision == "float64"
    d = results.Density(np.array([1.0, 2.0]), np.array([0.5, 0.5]), probes=3)
    nodes, weights = d
    assert d.nodes is nodes and d.weights is weights and pickle.loads(pickle.dumps(d)).probes == 3
    assert results.info(1.0) == {}
    with pytest.raises(AttributeError):
        results.Scalar(1.0).precision
