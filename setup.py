"""Package discovery, the one thing pyproject.toml cannot say alone.

Every package under scalecli/ is found automatically, so a new stage module is never
missing from a wheel (or from a Ray worker's install). The sweep files live at the top of
the repository in sweeps/, where users look for them, and ship inside the package as
`scalecli.presets`, so that `scalecli sweep` finds default.yaml wherever it is installed.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["scalecli", "scalecli.*"]), "scalecli.presets"],
    package_dir={"scalecli.presets": "sweeps"},
)
