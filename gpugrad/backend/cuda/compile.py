"""Compiling generated CUDA source: to PTX with NVRTC (checks, no GPU needed) and to a loaded
module through CuPy's RawModule (on a GPU), each once per source."""

from __future__ import annotations

import functools

ARCHS = ("compute_80", "compute_90")
OPTIONS = ("-std=c++17",)


def ptx(source: str, arch: str = "compute_90", name: str = "gpugrad.cu") -> bytes:
    """PTX for ``source`` through CuPy's NVRTC binding (works with no GPU and no driver);
    raises RuntimeError carrying NVRTC's log (file and line) when it does not compile."""
    from cupy_backends.cuda.libs import nvrtc

    prog = nvrtc.createProgram(source, name, [], [])
    try:
        try:
            nvrtc.compileProgram(prog, [f"-arch={arch}", *OPTIONS])
        except nvrtc.NVRTCError as e:
            raise RuntimeError(
                f"NVRTC ({arch}) could not compile {name}:\n{nvrtc.getProgramLog(prog)}"
            ) from e
        return nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)


@functools.cache
def module(source: str):
    """A CuPy RawModule of ``source`` (compiled on first use, kept for the process)."""
    import cupy

    return cupy.RawModule(code=source, options=OPTIONS)


@functools.cache
def function(source: str, name: str):
    """The kernel ``name`` of ``source``'s module, ready to launch."""
    return module(source).get_function(name)
