# Pure-Python package (ctypes): setup.py alone, without a pyproject.toml
# build-system table, so that `pip install ./bindings/python` needs nothing
# from a package index (pip then builds in place with the setuptools at hand).
from setuptools import setup

setup(
    name="dsv3",
    version="0.3.0",
    description="Python bindings (ctypes, no compiler needed) for libdsv3, a runtime for "
    "DeepSeek-V3-architecture language models",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.8",
    license="MIT",
    packages=["dsv3"],
    package_data={"dsv3": ["libdsv3.so*", "py.typed"]},
    extras_require={"numpy": ["numpy"]},
)
