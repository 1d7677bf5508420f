"""The upload page holds no copy of a limit, range or format list: it builds all of them
from GET /api/config. This fails as soon as one is written into its HTML or JS again."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from canny.edge_params import param_ranges
from canny.image_format import ACCEPTED_FORMATS
from canny.settings import MIB, Settings

FRONTEND = Path(__file__).resolve().parents[2] / "app" / "frontend"
SOURCES = sorted([FRONTEND / "index.html", *(FRONTEND / "js").glob("*.js")])
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def config_numbers() -> set[float]:
    """Every number /api/config answers with by default, and the upload limit in MiB;
    0 and 1 are left out, being too common to mean a limit."""
    settings = Settings()
    numbers = {settings.max_upload_bytes, settings.max_pixels, settings.max_upload_bytes // MIB}
    for spec in param_ranges().values():
        numbers |= {spec["min"], spec["max"], spec["default"]}
    return {float(number) for number in numbers if number > 1}


def format_words() -> re.Pattern[str]:
    """A format's name or extension, except `.png` (the edge map's own file extension)."""
    names = {image_format.name for image_format in ACCEPTED_FORMATS}
    names |= {image_format.extension for image_format in ACCEPTED_FORMATS}
    return re.compile(rf"(?<!\.)\b({'|'.join(sorted(names))})\b", re.IGNORECASE)


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_no_limit_range_or_format_literal(source: Path) -> None:
    text = source.read_text(encoding="utf-8")
    banned = config_numbers()
    numbers = [match for match in NUMBER.findall(text) if float(match) in banned]
    assert numbers == [], f"{source.name} repeats numbers /api/config answers: {numbers}"
    assert not re.search(r"\d+\s*\*\s*1024\s*\*\s*1024", text), f"{source.name}: a size limit"
    formats = format_words().findall(text)
    assert formats == [], f"{source.name} lists formats /api/config answers: {formats}"


class _SettingsInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("id") in {*param_ranges(), "file-input"}:
            self.found[str(attributes["id"])] = attributes


def test_controls_carry_no_ranges_or_accept_list_in_html() -> None:
    """The file input takes its accept list from the config, and the parameters' controls
    are not in the HTML at all: js/settings.js builds one per parameter /api/config names."""
    parser = _SettingsInputs()
    parser.feed((FRONTEND / "index.html").read_text(encoding="utf-8"))
    assert set(parser.found) == {"file-input"}
    for control, attributes in parser.found.items():
        baked = {"min", "max", "step", "value", "accept"} & set(attributes)
        assert not baked, f"#{control} has {sorted(baked)} in the HTML; /api/config says them"
