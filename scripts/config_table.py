"""Rewrite README.md's configuration table from shipper/config/table/ (run after editing it)."""

from pathlib import Path

from shipper.config.readme import replace_table

README = Path(__file__).resolve().parent.parent / "README.md"

if __name__ == "__main__":
    README.write_text(replace_table(README.read_text(encoding="utf-8")), encoding="utf-8")
