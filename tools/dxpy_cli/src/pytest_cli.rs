//! `dx-py test`'s command line as one typed model: the options dx-py implements itself (clap's
//! [`crate::args::TestArgs`]) and everything else, which goes to pytest.
//!
//! The command line is split once, in order. An option dx-py defines goes to clap with its
//! value; any other option goes to pytest with its value attached (`--opt=v`, `-Xv`), so
//! discovery and the workers' pytest never mistake it for a path. The value's arity comes
//! from pytest's own table (`dxpy_discover::config::args`); for an option neither knows (a
//! plugin's or a conftest's), from the interpreter's pytest ([`crate::pytest_probe`]) once it
//! has been asked, and until then it is taken as a flag ([`PytestCommandLine::guessed`]).

use std::collections::HashMap;

use dxpy_discover::config::args::{known_arity, Arity};

/// dx-py's own options of `dx-py test`, as clap defines them.
#[derive(Debug, Clone, Default)]
pub struct OwnOptions {
    /// Long names and aliases (`--maxfail`) → takes a value.
    long: HashMap<String, bool>,
    /// Short names (`-k`) → takes a value.
    short: HashMap<char, bool>,
}

/// dx-py's options that pytest (without plugins) does not have: they never reach pytest.
const DXPY_ONLY: &[&str] = &[
    "-n",
    "--numprocesses",
    "--affected",
    "--since",
    "--watch",
    "--python",
    "--no-zygote",
    "--no-daemon",
    "--no-cache",
    "--timeout",
    "-h",
    "--help",
];

/// Options that make pytest do something other than run the tests in the workers' way: the
/// session is pytest's own, run in the user's interpreter with the terminal attached.
const DELEGATED: &[&str] = &[
    "--fixtures",
    "--funcargs",
    "--fixtures-per-test",
    "--markers",
    "-V",
    "--version",
    "--cache-show",
    "--setup-plan",
    "--setupplan",
    "--setup-only",
    "--setuponly",
    "--setup-show",
    "--setupshow",
    "--pdb",
    "--trace",
    "--sw",
    "--stepwise",
    "--sw-skip",
    "--stepwise-skip",
    "--sw-reset",
    "--stepwise-reset",
];

/// pytest's collect-only spellings: dx-py prints discovery's listing.
const COLLECT_ONLY: &[&str] = &["--co", "--collect-only", "--collectonly"];

impl OwnOptions {
    /// The options of a command as clap knows them (`dx-py test`'s, help included; the
    /// command must be built).
    pub fn of_command(test: &clap::Command) -> OwnOptions {
        let mut own = OwnOptions::default();
        for arg in test.get_arguments().filter(|a| !a.is_positional()) {
            let takes_value = arg.get_action().takes_values();
            if let Some(c) = arg.get_short() {
                own.short.insert(c, takes_value);
            }
            for long in arg
                .get_long()
                .into_iter()
                .chain(arg.get_all_aliases().unwrap_or_default())
            {
                own.long.insert(format!("--{long}"), takes_value);
            }
        }
        own
    }
}

/// Arities the interpreter's pytest reported (option name → arity), for options pytest's
/// built-in table does not have.
pub type ProbedArities = HashMap<String, Arity>;

/// The pytest side of a `dx-py test` command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PytestCommandLine {
    /// The arguments after `test`, as given.
    pub argv: Vec<String>,
    /// The options dx-py leaves to pytest, in order, each value attached to its option.
    pub passthrough: Vec<String>,
    /// What `pytest` would be given: `argv` without dx-py's own options.
    pub for_pytest: Vec<String>,
    /// `for_pytest` with each pass-through option's value attached to it: what discovery
    /// and the workers read when every argument is pytest's (Bazel's `--pytest-arg`s).
    pub attached: Vec<String>,
    /// Some pass-through option is known to neither dx-py nor pytest's built-in table: its
    /// arity was guessed (a flag) until the interpreter's pytest is asked.
    pub guessed: bool,
}

impl PytestCommandLine {
    /// A pass-through option whose session only pytest itself runs (see [`DELEGATED`]).
    pub fn delegated(&self) -> Option<&str> {
        self.passthrough
            .iter()
            .map(|t| option_name(t))
            .find(|name| DELEGATED.contains(name))
    }

    /// `--co`/`--collect-only` was given.
    pub fn collect_only(&self) -> bool {
        self.passthrough
            .iter()
            .any(|t| COLLECT_ONLY.contains(&option_name(t)))
    }
}

/// `--name=v` → `--name`; `-Xv` → `-X`.
fn option_name(token: &str) -> &str {
    if token.starts_with("--") {
        token.split_once('=').map_or(token, |(name, _)| name)
    } else {
        token.get(..2).unwrap_or(token)
    }
}

/// A command line that is pytest's alone (Bazel's `--pytest-arg`s): read with the same
/// model, no option being dx-py's.
pub fn pytest_only(tokens: &[String]) -> PytestCommandLine {
    split(tokens, &OwnOptions::default(), &ProbedArities::new()).1
}

/// Split `tokens` (the arguments after `test`): dx-py's own arguments (for clap, in order) and
/// the pytest side.
pub fn split(
    tokens: &[String],
    own: &OwnOptions,
    probed: &ProbedArities,
) -> (Vec<String>, PytestCommandLine) {
    let mut out = Splitter {
        own_tokens: Vec::new(),
        line: PytestCommandLine {
            argv: tokens.to_vec(),
            ..PytestCommandLine::default()
        },
        own,
        probed,
    };
    let mut i = 0;
    let mut only_positional = false;
    while i < tokens.len() {
        let token = &tokens[i];
        i += 1;
        if only_positional || token == "-" || !token.starts_with('-') || is_negative_number(token) {
            out.positional(token);
        } else if token == "--" {
            only_positional = true;
            out.positional(token);
        } else if token.starts_with("--") {
            out.long(token, tokens, &mut i);
        } else {
            out.short_cluster(token, tokens, &mut i);
        }
    }
    (out.own_tokens, out.line)
}

struct Splitter<'a> {
    own_tokens: Vec<String>,
    line: PytestCommandLine,
    own: &'a OwnOptions,
    probed: &'a ProbedArities,
}

impl Splitter<'_> {
    fn positional(&mut self, token: &str) {
        self.own_tokens.push(token.to_owned());
        self.line.for_pytest.push(token.to_owned());
        self.line.attached.push(token.to_owned());
    }

    /// One of dx-py's options, its value (if any) as a separate token for clap.
    fn own_option(&mut self, name: &str, value: Option<String>) {
        self.own_tokens.push(name.to_owned());
        self.own_tokens.extend(value.clone());
        if !DXPY_ONLY.contains(&name) {
            for line in [&mut self.line.for_pytest, &mut self.line.attached] {
                line.push(name.to_owned());
                line.extend(value.clone());
            }
        }
    }

    fn pytest_arity(&mut self, name: &str) -> Option<Arity> {
        known_arity(name).or_else(|| self.probed.get(name).copied())
    }

    fn long(&mut self, token: &str, tokens: &[String], i: &mut usize) {
        let (name, inline) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (token, None),
        };
        if let Some(&takes_value) = self.own.long.get(name) {
            let value = match inline {
                Some(v) => Some(v),
                None if takes_value => next_value(tokens, i),
                None => None,
            };
            self.own_option(name, value);
            return;
        }
        if inline.is_some() {
            self.pass(token.to_owned(), &[token]);
            return;
        }
        match self.pytest_arity(name) {
            Some(Arity::Flag) => self.pass(token.to_owned(), &[token]),
            Some(Arity::Value) => match next_value(tokens, i) {
                Some(v) => {
                    let joined = format!("{name}={v}");
                    self.pass(joined, &[token, &v]);
                }
                None => self.pass(token.to_owned(), &[token]),
            },
            Some(Arity::OptionalValue) => match tokens.get(*i).filter(|t| !t.starts_with('-')) {
                Some(v) => {
                    *i += 1;
                    let joined = format!("{name}={v}");
                    self.pass(joined, &[token, v]);
                }
                None => self.pass(token.to_owned(), &[token]),
            },
            None => {
                self.line.guessed = true;
                self.pass(token.to_owned(), &[token]);
            }
        }
    }

    /// `-vx`, `-kexpr`, `-W error`, `-pno:cacheprovider`: each option of the cluster goes to
    /// its owner; one that takes a value takes the rest of the cluster or the next token.
    fn short_cluster(&mut self, token: &str, tokens: &[String], i: &mut usize) {
        let body: Vec<char> = token.chars().skip(1).collect();
        let mut j = 0;
        while j < body.len() {
            let c = body[j];
            let name = format!("-{c}");
            let rest: String = body[j + 1..].iter().collect();
            if let Some(&takes_value) = self.own.short.get(&c) {
                if !takes_value {
                    self.own_option(&name, None);
                    j += 1;
                    continue;
                }
                let value = if rest.is_empty() {
                    next_value(tokens, i)
                } else {
                    Some(rest.strip_prefix('=').unwrap_or(&rest).to_owned())
                };
                self.own_option(&name, value);
                return;
            }
            match self.pytest_arity(&name) {
                Some(Arity::Flag) => {
                    self.pass(name.clone(), &[&name]);
                    j += 1;
                }
                Some(_) => {
                    let joined = format!("{name}{rest}");
                    let next = if rest.is_empty() {
                        next_value(tokens, i)
                    } else {
                        None
                    };
                    match next {
                        Some(v) => self.pass(format!("{name}{v}"), &[&name, &v]),
                        None => self.pass(joined.clone(), &[&joined]),
                    }
                    return;
                }
                None => {
                    // Unknown to all: the rest of the cluster goes with it, as argparse would
                    // report it whole.
                    self.line.guessed = true;
                    let whole = format!("-{}", body[j..].iter().collect::<String>());
                    self.pass(whole.clone(), &[&whole]);
                    return;
                }
            }
        }
    }

    /// A pass-through option: `joined` for discovery and the workers, `original` for pytest.
    fn pass(&mut self, joined: String, original: &[&str]) {
        self.line.attached.push(joined.clone());
        self.line.passthrough.push(joined);
        self.line
            .for_pytest
            .extend(original.iter().map(|t| (*t).to_owned()));
    }
}

/// The next token as an option's value (argparse takes it even when it looks like an
/// option only if it is a negative number; otherwise the option has no value).
fn next_value(tokens: &[String], i: &mut usize) -> Option<String> {
    let next = tokens.get(*i)?;
    if next.starts_with('-') && next.len() > 1 && !is_negative_number(next) {
        return None;
    }
    *i += 1;
    Some(next.clone())
}

fn is_negative_number(token: &str) -> bool {
    token.len() > 1
        && token[1..].starts_with(|c: char| c.is_ascii_digit())
        && token[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
}
