"""Hypothesis strategies for form parameter text: near-integers first, then anything."""

from hypothesis import strategies as st

SIGNS = st.sampled_from(["", "+", "-", "+-", "-+", "--", "++", " -"])
DIGITS = st.text(alphabet="0123456789٣_. \t", max_size=6)
NEAR_INTEGERS = st.builds(lambda sign, digits: sign + digits, SIGNS, DIGITS)
PARAM_TEXT = NEAR_INTEGERS | st.text(max_size=20)
PARAM_FORMS = st.dictionaries(st.sampled_from(["low", "high", "blur", "other"]), PARAM_TEXT)
