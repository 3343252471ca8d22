"""The dxpy_toolchain rule: wraps one dx-py binary as a toolchain.

Register it through `toolchain(toolchain_type = "@rules_dxpy//dxpy:toolchain_type")`;
the module extension in //dxpy:extensions.bzl does that for release archives
and for a development binary built from a checkout.
"""

load(":providers.bzl", "DxPyToolchainInfo")

TOOLCHAIN_TYPE = Label("//dxpy:toolchain_type")

def _dxpy_toolchain_impl(ctx):
    info = DxPyToolchainInfo(binary = ctx.executable.binary)
    return [
        platform_common.ToolchainInfo(dxpy = info),
        info,
    ]

dxpy_toolchain = rule(
    implementation = _dxpy_toolchain_impl,
    doc = "A dx-py binary, for use as a `@rules_dxpy//dxpy:toolchain_type` toolchain.",
    attrs = {
        "binary": attr.label(
            mandatory = True,
            allow_single_file = True,
            executable = True,
            # The same file runs as an action tool and as the test executable;
            # prebuilt binaries are identical in both configurations.
            cfg = "exec",
            doc = "The `dx-py` executable.",
        ),
    },
    provides = [DxPyToolchainInfo],
)

def dxpy_binary(ctx):
    """The dx-py binary (File) of the resolved toolchain."""
    return ctx.toolchains[TOOLCHAIN_TYPE].dxpy.binary
