"""The `dxpy` module extension: where the dx-py binary comes from.

In MODULE.bazel, pick one per hub name (default `dxpy_toolchains`):

    dxpy = use_extension("@rules_dxpy//dxpy:extensions.bzl", "dxpy")
    # a release: one archive per platform, each pinned by sha256
    dxpy.release(
        urls = {"linux_x86_64": ["https://.../dx-py-0.1.0-linux_x86_64.tar.gz"]},
        sha256 = {"linux_x86_64": "<64 hex digits>"},
    )
    # or, for rules_dxpy developers: the binary built by
    # `cargo build --release -p dxpy_cli` in the checkout
    # (override with --repo_env=DXPY_DEV_BINARY=/abs/path/dx-py)
    dxpy.development()
    use_repo(dxpy, "dxpy_toolchains")
    register_toolchains("@dxpy_toolchains//:all")

Archives must hold `dx-py` at their top level (after `strip_prefix`).
Platforms: linux_x86_64, linux_aarch64, macos_x86_64, macos_aarch64.
"""

# This extension is rules_dxpy's own public face of its repository rules, not
# an outside user of //rules/private.
# buildifier: disable=bzl-visibility
load(
    "//rules/private:repositories.bzl",
    "PLATFORM_CONSTRAINTS",
    "dxpy_dev_binary",
    "dxpy_release_archive",
    "dxpy_toolchains_hub",
)

_release = tag_class(
    doc = "Use release archives, one per platform, each pinned by sha256.",
    attrs = {
        "name": attr.string(default = "dxpy_toolchains", doc = "Name of the hub repository to register."),
        "urls": attr.string_list_dict(mandatory = True, doc = "Platform → archive URLs."),
        "sha256": attr.string_dict(mandatory = True, doc = "Platform → SHA-256 of its archive."),
        "strip_prefix": attr.string(doc = "Directory prefix to strip from every archive."),
    },
)

_development = tag_class(
    doc = "Use a dx-py binary built from a checkout (see dxpy_dev_binary).",
    attrs = {
        "name": attr.string(default = "dxpy_toolchains", doc = "Name of the hub repository to register."),
    },
)

def _dxpy_impl(module_ctx):
    hubs = {}
    for mod in module_ctx.modules:
        for tag in mod.tags.release:
            if tag.name in hubs:
                continue
            names, impls, platforms = [], [], []
            for platform, urls in sorted(tag.urls.items()):
                if platform not in PLATFORM_CONSTRAINTS:
                    fail("dxpy.release: unknown platform %r (known: %s)" %
                         (platform, ", ".join(sorted(PLATFORM_CONSTRAINTS))))
                if platform not in tag.sha256:
                    fail("dxpy.release: no sha256 for platform \"%s\"; every archive must be pinned" % platform)
                impl = "%s_%s" % (tag.name, platform)
                dxpy_release_archive(
                    name = impl,
                    urls = urls,
                    sha256 = tag.sha256[platform],
                    strip_prefix = tag.strip_prefix,
                )
                names.append(platform)
                impls.append(impl)
                platforms.append(platform)
            hubs[tag.name] = struct(names = names, impls = impls, platforms = platforms)
        for tag in mod.tags.development:
            if tag.name in hubs:
                continue
            impl = tag.name + "_dev"
            dxpy_dev_binary(name = impl)
            hubs[tag.name] = struct(names = ["development"], impls = [impl], platforms = ["any"])
    for name, hub in hubs.items():
        dxpy_toolchains_hub(
            name = name,
            names = hub.names,
            impl_repos = hub.impls,
            platforms = hub.platforms,
        )

dxpy = module_extension(
    implementation = _dxpy_impl,
    doc = "Provides dx-py toolchains from release archives or a development build.",
    tag_classes = {"release": _release, "development": _development},
)
