"""What a test sees of the results folder."""

from pathlib import Path


def visible_files(directory: Path) -> list[str]:
    """Every file under the results folder (the owner index included), as relative paths."""
    if not directory.exists():
        return []
    return sorted(
        str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file()
    )
