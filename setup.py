"""Build hook for the optional C fast path (``ilvb.sfu.fastpath._fastpath``).

Project metadata lives in ``pyproject.toml``; this file only declares the extension. It needs
gcc and the Python headers, nothing else: its SRTP is the libsrtp inside the pylibsrtp wheel.
``optional=True``: when it cannot be built, installation goes on and the SFU forwards on its
pure-Python path (the worker logs it).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ilvb.sfu.fastpath._fastpath",
            sources=["ilvb/sfu/fastpath/_fastpath.c"],
            extra_compile_args=["-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall"],
            optional=True,
        )
    ]
)
