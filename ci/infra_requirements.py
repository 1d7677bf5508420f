"""Print pyproject.toml's `infra` extra, one requirement a line: `python -m ci.infra_requirements`.

Pulumi jobs install only what the Pulumi program, the policy pack and the ci/ scripts import
(`pip install -r` of this list), not the whole project: `pip install '.[infra]'` would also
install the backend's own dependencies (OpenCV, numpy), and pip has no option to install an
extra without them (https://github.com/pypa/pip/issues/12191, /4783). The list stays in one place,
pyproject.toml, which `.[dev]` installs for the tests too.
"""

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
EXTRA = "infra"


def requirements(pyproject: Path = PYPROJECT) -> list[str]:
    with pyproject.open("rb") as file:
        project = tomllib.load(file)["project"]
    return list(project["optional-dependencies"][EXTRA])


if __name__ == "__main__":
    sys.stdout.write("".join(f"{line}\n" for line in requirements()))
