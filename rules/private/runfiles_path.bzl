"""Runfiles-relative paths of Files (`_main/pkg/x.py`, `repo/y.py`)."""

def runfiles_path(ctx, file):
    """Path of `file` relative to a runfiles root.

    Args:
      ctx: any rule context (for the main repository's runfiles name).
      file: a File.

    Returns:
      `<main repo>/<short_path>` for main-repository files, `<repo>/<path>`
      for files of other repositories (whose short_path is `../<repo>/<path>`).
    """
    short = file.short_path
    if short.startswith("../"):
        return short[len("../"):]
    return ctx.workspace_name + "/" + short
