"""The README's price table is the default table, with its date."""

import re
from pathlib import Path

from pipecat_roark.prices import DEFAULT_PRICES, PRICES_AS_OF

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_readme_lists_every_priced_model_with_the_prices_date():
    section = README.split("### Cost: `cost`", 1)[1].split("### Turn-taking", 1)[0]
    keys = re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)
    assert keys == list(DEFAULT_PRICES)
    assert f"as of {PRICES_AS_OF}" in section and "entered by hand" in section and "prices=" in section
    for key, (_, component, price) in DEFAULT_PRICES.items():
        row = re.search(rf"^\| `{re.escape(key)}` \|.*$", section, flags=re.MULTILINE).group(0)
        assert f"| {component.upper()} |" in row
        if price.per_minute is not None:
            assert f"USD {price.per_minute:g} per minute" in row
        if price.per_1k_characters is not None:
            assert f"USD {price.per_1k_characters:g} per 1k characters" in row
        if price.input_per_mtok is not None:
            assert f"in {price.input_per_mtok:g}," in row and f"out {price.output_per_mtok:g}" in row
