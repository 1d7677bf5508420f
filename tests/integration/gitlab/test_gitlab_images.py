"""Every image the pipeline runs is pinned to a release, never a moving tag."""

import re
from string import Template

import pytest
import yaml

from tests.integration.gitlab.conftest import PIPELINE

PINNED = re.compile(r"^[a-z0-9./-]+:v?\d+(\.\d+)+(-[a-z0-9.-]+)?$")


def pipeline_images() -> dict[str, str]:
    """Job (or `default`) -> its image, with the pipeline's global variables filled in."""
    config = yaml.safe_load(PIPELINE.read_text())
    variables = config.get("variables", {})
    images = {}
    for name, job in config.items():
        if isinstance(job, dict) and "image" in job:
            image = job["image"]
            image = image["name"] if isinstance(image, dict) else image
            images[name] = Template(image).substitute(variables)
    return images


def test_the_python_pulumi_and_buildah_images_are_found() -> None:
    images = " ".join(pipeline_images().values())
    for kind in ("python:", "pulumi/pulumi-python", "buildah/stable:"):
        assert kind in images, f"no {kind} image found in {images}"


@pytest.mark.parametrize(("job", "image"), pipeline_images().items())
def test_image_is_pinned(job: str, image: str) -> None:
    assert PINNED.match(image), f"{job} runs {image}: pin a release tag"
