"""Shell launchers of the rules_dxpy executables, expanded from templates.

Each executable rule has its own template under `launchers/` (passed in as an
implicit `_launcher_template` attribute); all of them find the runfiles root
the same way, so that block lives here once and is spliced into each template
as `%{runfiles_lookup}`. (expand_template cannot include one file in another,
and Starlark cannot read a file's text during analysis: a shared shell file
would need a build action to concatenate it, which would also hide the
expanded script from analysis tests.)
"""

# Runfiles root: RUNFILES_DIR (bazel run), TEST_SRCDIR (bazel test), else the
# `<executable>.runfiles` tree next to the script (run by hand from bazel-bin).
# Sets $runfiles to an absolute path, or exits 2.
_RUNFILES_LOOKUP = """\
if [ -n "${RUNFILES_DIR:-}" ]; then
    runfiles=$RUNFILES_DIR
elif [ -n "${TEST_SRCDIR:-}" ]; then
    runfiles=$TEST_SRCDIR
elif [ -d "$0.runfiles" ]; then
    runfiles=$0.runfiles
else
    echo "%{who}: cannot find the runfiles (no RUNFILES_DIR, TEST_SRCDIR or $0.runfiles)" >&2
    exit 2
fi
case "$runfiles" in
    /*) ;;
    *) runfiles=$PWD/$runfiles ;;
esac"""

def launcher_template_attr(template, rule_name):
    """The implicit attribute that names a rule's launcher template.

    Args:
      template: label string of the template, relative to rules_dxpy.
      rule_name: the rule that uses it (for the attribute's doc).

    Returns:
      An `attr.label` for the rule's `_launcher_template` attribute.
    """
    return attr.label(
        allow_single_file = True,
        default = Label(template),
        doc = "Template of the %s executable (a shell script)." % rule_name,
    )

def expand_launcher(ctx, output, rule_name, substitutions):
    """Writes the executable `output` from `ctx.file._launcher_template`.

    Args:
      ctx: context of a rule with a `_launcher_template` attribute.
      output: the File to write (the rule's executable).
      rule_name: the rule's public name, for the launcher's error messages.
      substitutions: the template's own `%{...}` keys and their values; the
        runfiles lookup and `%{label}` are added here.
    """

    # Bazel applies the substitutions one after the other, so the lookup goes
    # in first and comes complete (its own key filled in here).
    values = {
        "%{runfiles_lookup}": _RUNFILES_LOOKUP.replace("%{who}", "%s %s" % (rule_name, ctx.label)),
    }
    values.update(substitutions)
    values["%{label}"] = str(ctx.label)
    ctx.actions.expand_template(
        template = ctx.file._launcher_template,
        output = output,
        substitutions = values,
        is_executable = True,
    )
